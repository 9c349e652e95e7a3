/*
 * NAME
 *	fuzz_rules_params.c - libFuzzer target of the dated parameters' reader
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_rules_params
 *
 * DESCRIPTION
 *	Feeds arbitrary bytes to rules_params_from_string(), the reader of
 *	deploy/params/parameters.json (every daemon and claimctl load it at
 *	start). Parameters it accepts must hold what the engine relies on,
 *	and the engine must run on them: on a few dates, each group in
 *	force starts on or before the date and its members are within their
 *	bounds (the medicines' exempt rates among them); an act found is in
 *	force; a request of a consultation and two medicines decided with
 *	them balances (charged = AMO paid + AMC + rest), or is refused with
 *	a field named. A crash, a sanitizer report or a broken invariant
 *	aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules/rules_json.h"

#include "fuzz_target.h"

static const rules_date_t dates[] = {19700101, 20170101, 20240515, 20260310, 20991231};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* The versions in force on `date`: each starts on or before it, with
 * the bounds the reader promises. */
static void check_set(const struct rules_param_set *s, rules_date_t date)
{
	const struct rules_responsible_params *r = s->responsible;

	CHECK(s->pf != NULL && s->pf->since <= date);
	CHECK(s->renewal != NULL && s->renewal->glasses_months >= 1);
	CHECK(r != NULL && r->since <= date);
	CHECK(r->parcours_ref_rate >= 1 && r->parcours_ref_rate <= 100);
	CHECK(r->non_optam_max_pct >= 100);
	CHECK(r->n_pharma_tm_exempt_rates >= 0 &&
	      r->n_pharma_tm_exempt_rates <= RULES_MAX_EXEMPT_RATES);
	for (int i = 0; i < r->n_pharma_tm_exempt_rates; i++)
		CHECK(r->pharma_tm_exempt_rates[i] >= 1 && r->pharma_tm_exempt_rates[i] <= 99);
}

/* A consultation and medicines at 30 and 65 % on a responsible contract
 * paying 100 % BRSS, decided on `date`. */
static void decide(const struct rules_params *p, rules_date_t date)
{
	static const int rates[] = {70, 30, 65};
	static const enum rules_category cats[] = {RULES_CAT_CONSULT_GP, RULES_CAT_PHARMA,
						   RULES_CAT_PHARMA};
	struct rules_contract c;
	struct rules_line l[3];
	struct rules_request req = {{19800501, 0}, &c, NULL, 0, l, 3};
	struct rules_line_result res[3];
	struct rules_totals t;
	struct rules_error err;

	rules_contract_init(&c, true);
	for (int i = 0; i < 3; i++) {
		c.g[cats[i]].form = RULES_FORM_PCT;
		c.g[cats[i]].pct_brss = 100;
		rules_line_init(&l[i]);
		l[i].category = cats[i];
		l[i].date = date;
		l[i].charged_cents = 3000;
		l[i].brss_cents = 3000;
		l[i].amo_rate = rates[i];
	}
	if (rules_compute(p, &req, res, &t, &err) != RULES_OK) {
		CHECK(err.field[0] != '\0');
		return;
	}
	for (int i = 0; i < 3; i++)
		CHECK(res[i].amo_paid_cents + res[i].amc_cents + res[i].rac_cents ==
		      l[i].charged_cents);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rules_params *p = malloc(sizeof(*p));
	struct rules_error err;

	CHECK(p != NULL);
	if (rules_params_from_string((const char *)data, size, p, &err) != RULES_OK) {
		CHECK(err.field[0] != '\0' || err.reason[0] != '\0');
		free(p);
		return 0;
	}
	for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		struct rules_param_set set;
		const struct rules_act *a = rules_params_act(p, "G", dates[i], 40);

		if (a != NULL)
			CHECK(a->since <= dates[i]);
		if (rules_params_at(p, dates[i], &set, &err) == RULES_OK) {
			check_set(&set, dates[i]);
			decide(p, dates[i]);
		}
	}
	free(p);
	return 0;
}
