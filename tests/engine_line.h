/*
 * NAME
 *	engine_line.h - does the worker's engine compute this claim line?
 *
 * DESCRIPTION
 *	For the tests that hold intake to "what it accepts, the engine
 *	computes" (tests/unit/test_intake_check.c, the fuzz target of
 *	intake's checks): the line translated as the worker translates it
 *	(common/claimline.c), alone in a request for a beneficiary born on
 *	`birth`, under a contract with no guarantee (the AMC is 0, but every
 *	check of the line is made).
 */
#ifndef TESTS_ENGINE_LINE_H
#define TESTS_ENGINE_LINE_H

#include <string.h>

#include "common/claimline.h"
#include "rules/rules.h"

/* 1 when rules_compute() takes the line, 0 when it refuses it (or the
 * line's date or category do not parse). */
static inline int engine_computes_line(const struct rules_params *params,
				       const Claims__ClaimLine *p, const char *birth)
{
	struct rules_contract contract;
	struct rules_request req;
	struct rules_line line;
	struct rules_line_result result;
	struct rules_totals totals;
	struct rules_error err;

	rules_contract_init(&contract, true);
	memset(&req, 0, sizeof(req));
	if (rules_date_parse(birth, &req.beneficiary.birth_date) != RULES_OK ||
	    claim_line_to_rules(p, &line) != OK)
		return 0;
	req.contract = &contract;
	req.lines = &line;
	req.n_lines = 1;
	return rules_compute(params, &req, &result, &totals, &err) == RULES_OK;
}

#endif
