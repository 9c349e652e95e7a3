/*
 * NAME
 *	claimctl_scope.h - the claims a nightly command reads
 *
 * DESCRIPTION
 *	claimctl check and claimctl duplicates read the claims received or
 *	decided since a day (--since YYYY-MM-DD, or --days N: the last N
 *	days), of one member's family (--member NUMBER), or all of them.
 *	Their queries take the scope as their first three parameters, $1
 *	since, $2 member, $3 days (each NULL when not given), and start
 *	from CLAIMCTL_SCOPE_CLAIMS: the claims in scope, with their
 *	beneficiary.
 */
#ifndef CLAIMCTL_SCOPE_H
#define CLAIMCTL_SCOPE_H

#include "common/pg.h"
#include "common/status.h"

/* clang-format off */
#define CLAIMCTL_SCOPE_CLAIMS                                                                      \
	"SELECT cl.claim_id, cl.beneficiary_id FROM claims cl"                                     \
	" JOIN contracts ct ON ct.contract_id = cl.contract_id"                                     \
	" JOIN members m ON m.member_id = ct.member_id"                                             \
	" WHERE ($1::date IS NULL OR cl.received_at >= $1::date OR cl.decided_at >= $1::date)"     \
	" AND ($3::int IS NULL OR greatest(cl.received_at, cl.decided_at)"                        \
	"  >= now() - make_interval(days => $3::int))"                                             \
	" AND ($2::text IS NULL OR m.membership_number = $2)"
/* clang-format on */

#define CLAIMCTL_SCOPE_USAGE "[--since YYYY-MM-DD | --days N] [--member NUMBER]"

struct claimctl_scope {
	const char *since, *member, *days; /* NULL: not given */
};

/* The options argv[1..argc-1], each given once, --since or --days not
 * both, --days from 1 (0 would be an empty scope that says all is
 * well). ERR on anything else, with a line on stderr for the last two
 * (`who`: "claimctl check"). */
int claimctl_scope_parse(int argc, char **argv, const char *who,
			 struct claimctl_scope *s) MUST_CHECK;
/* Prints "in scope: N claims, M beneficiaries", so that a scope holding
 * nothing shows; *known 0 (nothing printed) when --member names no
 * member: a number mistyped is not an empty scope. */
int claimctl_scope_print(struct pg *db, const struct claimctl_scope *s, int *known) MUST_CHECK;

#endif
