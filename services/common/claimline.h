/*
 * NAME
 *	claimline.h - a claim line of the protocol as a line of the rules engine
 *
 * SYNOPSIS
 *	struct rules_line l;
 *	if (claim_line_to_rules(proto_line, &l) != OK)
 *		... its date or category is not one ...
 *
 * DESCRIPTION
 *	One translation for every reader of a ClaimLine: the reimbursement
 *	worker computes the line so translated, and intake checks the same
 *	translation with the engine's own checks (rules_line_check(),
 *	rules_line_tariff_check()) before it says "accepted". Two copies
 *	could drift apart, and a line intake accepted be refused by the
 *	worker: a claim in error, and no reason code for its sender.
 *
 *	The rules_line points into the protobuf message (line_ref, act
 *	code), which must outlive it. A basket or lens that is not one of
 *	the engine's vocabulary is left out: intake refuses it before.
 */
#ifndef COMMON_CLAIMLINE_H
#define COMMON_CLAIMLINE_H

#include "common/status.h"
#include "proto/claims.pb-c.h"
#include "rules/rules.h"

/* OK, or ERR when the care date or the category does not parse (the
 * rest of the line is filled all the same). */
int claim_line_to_rules(const Claims__ClaimLine *p, struct rules_line *l) MUST_CHECK;

#endif
