/*
 * NAME
 *	params.h - load the rules engine's dated parameters file
 *
 * SYNOPSIS
 *	struct rules_params *p = xmalloc(sizeof(*p));
 *	if (params_load(NULL, p) != OK) ...
 *
 * DESCRIPTION
 *	The engine opens no file (services/rules is pure); every program that
 *	computes reimbursements reads deploy/params/parameters.json through
 *	this one function. The path is the one given, else the variable
 *	CLAIMS_RULES_PARAMS, else PARAMS_DEFAULT_PATH under the current
 *	directory.
 *
 * DIAGNOSTICS
 *	ERR after logging the path and the cause (unreadable file, or the
 *	JSON path of the fault in the file).
 */
#ifndef COMMON_PARAMS_H
#define COMMON_PARAMS_H

#include "common/status.h"
#include "rules/rules.h"

#define PARAMS_DEFAULT_PATH "deploy/params/parameters.json"

int params_load(const char *path, struct rules_params *out) MUST_CHECK;

#endif
