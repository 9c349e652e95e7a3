/*
 * NAME
 *	test_rules_params.c - dated parameters: file, versions, act table
 *
 * DESCRIPTION
 *	deploy/params/parameters.json loads and holds the figures of the
 *	domain reference; a group with several versions gives the one in
 *	force on each date (and a line's date changes the PF the engine
 *	withholds); the act table picks the age variant and the tariff of
 *	the date; every fault of the file is named by its JSON path.
 *	Runs from the repository root.
 */
#include <stdlib.h>

#include "rules/rules_json.h"
#include "json_mutate.h"
#include "test.h"

static struct rules_params params;

static json_t *deploy_json(void)
{
	json_error_t je;
	json_t *root = json_load_file("deploy/params/parameters.json", 0, &je);

	if (root == NULL)
		printf("  parameters.json: %s\n", je.text);
	return root;
}

static void test_deploy_file(void)
{
	json_t *root = deploy_json();
	struct rules_error err;

	REQUIRE(root != NULL);
	if (rules_params_from_json(root, &params, &err) != RULES_OK)
		printf("  %s: %s\n", err.field, err.reason);
	json_decref(root);
	CHECK_EQ_I64(params.n_pf, 1);
	CHECK_EQ_I64(params.pf[0].per_act_cents, 200);
	CHECK_EQ_I64(params.pf[0].daily_cap_cents, 800);
	CHECK_EQ_I64(params.pf[0].annual_cap_cents, 5000);
	CHECK_EQ_I64(params.pf[0].since, 20240515);
	CHECK_EQ_I64(params.franchise[0].since, 20240331);
	CHECK_EQ_I64(params.franchise[0].transport_daily_cap_cents, 800);
	CHECK_EQ_I64(params.fjh[0].per_day_cents, 2000);
	CHECK_EQ_I64(params.optics[0].ceiling_cents[0][1], 56000);
	CHECK_EQ_I64(params.responsible[0].n_pharma_tm_exempt_rates, 2);
	CHECK_EQ_I64(params.responsible[0].pharma_tm_exempt_rates[0], 15);
	CHECK_EQ_I64(params.responsible[0].pharma_tm_exempt_rates[1], 30);
	CHECK_EQ_I64(params.optics[0].ceiling_cents[1][0], 56000);
	CHECK_EQ_I64(params.optics[0].ceiling_cents[2][2], 80000);
	CHECK_EQ_I64(params.optics[0].frame_cap_cents, 10000);
	CHECK_EQ_I64(params.audio[0].class2_ceiling_cents, 170000);
	CHECK_EQ_I64(params.renewal[0].audio_months, 48);
	CHECK_EQ_I64(params.responsible[0].non_optam_max_pct, 200);
	CHECK_EQ_I64(params.responsible[0].non_optam_gap_points, 20);
	CHECK(params.n_acts >= 8);
}

static void test_param_set(void)
{
	struct rules_param_set set;
	struct rules_error err;

	CHECK(rules_params_at(&params, 20260310, &set, &err) == RULES_OK);
	CHECK(set.pf == &params.pf[0]);
	CHECK(set.optics == &params.optics[0]);
	CHECK(rules_params_at(&params, 20240514, &set, &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "pf");
	CHECK(set.pf == NULL);
	CHECK(set.optics != NULL); /* the groups in force are still given */
}

static void test_act_lookup(void)
{
	const struct rules_act *a;

	a = rules_params_act(&params, "G", 20260310, 30);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->brss_cents, 3000);
	CHECK_EQ_I64(a->amo_rate, 70);
	CHECK_EQ_I64(a->amo_rate_outside_parcours, 30);
	CHECK_EQ_I64(a->category, RULES_CAT_CONSULT_GP);
	a = rules_params_act(&params, "G", 20260310, 5);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->brss_cents, 3500);
	a = rules_params_act(&params, "G", 20260310, 6);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->brss_cents, 3000);
	a = rules_params_act(&params, "HBLD038", 20260310, 40);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->price_limit_cents, 29000);
	a = rules_params_act(&params, "AMI", 20260310, 40);
	REQUIRE(a != NULL);
	CHECK_EQ_I64(a->price_limit_cents, -1);
	CHECK(rules_params_act(&params, "G", 20241221, 30) == NULL);
	CHECK(rules_params_act(&params, "GG", 20260310, 30) == NULL);
	CHECK(rules_params_act(&params, "", 20260310, 30) == NULL);
	CHECK(rules_params_act(&params, NULL, 20260310, 30) == NULL);
}

/* The deploy file plus older versions: PF 1 euro, franchise 0.50 euro,
 * G at 26.50 euros (figures for the test only, given out of order). */
static json_t *versioned_json(void)
{
	json_t *root = deploy_json();

	if (root == NULL)
		return NULL;
	json_array_append_new(json_object_get(root, "pf"),
			      json_loads("{\"since\": \"2020-01-01\", \"per_act_cents\": 100,"
					 "\"daily_cap_cents\": 400, \"annual_cap_cents\": 5000,"
					 "\"exempt_under_age\": 18}",
					 0, NULL));
	json_array_append_new(json_object_get(root, "franchise"),
			      json_loads("{\"since\": \"2020-01-01\","
					 "\"pharma_per_unit_cents\": 50,"
					 "\"auxiliaire_per_unit_cents\": 50,"
					 "\"auxiliaire_daily_cap_cents\": 200,"
					 "\"transport_per_trip_cents\": 200,"
					 "\"transport_daily_cap_cents\": 400,"
					 "\"annual_cap_cents\": 5000, \"exempt_under_age\": 18}",
					 0, NULL));
	json_array_append_new(json_object_get(root, "acts"),
			      json_loads("{\"code\": \"G\", \"category\": \"CONSULT_GP\","
					 "\"since\": \"2023-12-01\", \"brss_cents\": 2650,"
					 "\"amo_rate\": 70}",
					 0, NULL));
	return root;
}

static void test_versions_by_date(void)
{
	json_t *root = versioned_json();
	struct rules_params *p = malloc(sizeof *p);
	struct rules_param_set set;
	struct rules_error err;
	const struct rules_act *a;

	REQUIRE(root != NULL && p != NULL);
	CHECK(rules_params_from_json(root, p, &err) == RULES_OK);
	json_decref(root);
	CHECK_EQ_I64(p->n_pf, 2);
	CHECK_EQ_I64(p->pf[0].since, 20200101); /* sorted */
	CHECK(rules_params_at(p, 20240514, &set, &err) == RULES_OK);
	CHECK_EQ_I64(set.pf->per_act_cents, 100);
	CHECK(rules_params_at(p, 20240515, &set, &err) == RULES_OK);
	CHECK_EQ_I64(set.pf->per_act_cents, 200);
	CHECK(rules_params_at(p, 20240330, &set, &err) == RULES_OK);
	CHECK_EQ_I64(set.franchise->pharma_per_unit_cents, 50);
	CHECK(rules_params_at(p, 20240331, &set, &err) == RULES_OK);
	CHECK_EQ_I64(set.franchise->pharma_per_unit_cents, 100);
	a = rules_params_act(p, "G", 20241221, 30);
	CHECK(a != NULL && a->brss_cents == 2650);
	a = rules_params_act(p, "G", 20241222, 30);
	CHECK(a != NULL && a->brss_cents == 3000);
	/* The child variant starts on 2024-12-22: before it, the general G. */
	a = rules_params_act(p, "G", 20241221, 3);
	CHECK(a != NULL && a->brss_cents == 2650);
	free(p);
}

/* The same care, `cents` charged and as BRSS at `rate`, on the day
 * before `day` and on `day`, decided with the parameters `root` gives
 * (freed) on a responsible contract covering the category at pct % BRSS:
 * what each version in force makes of it. */
static int decide_across(json_t *root, enum rules_category cat, int64_t cents, int32_t rate,
			 int32_t pct, rules_date_t day, struct rules_line_result r[2])
{
	struct rules_params *p = malloc(sizeof *p);
	struct rules_contract c;
	struct rules_line l[2];
	struct rules_request req = {{19800501, 0}, &c, NULL, 0, l, 2};
	struct rules_totals t;
	struct rules_error err;
	int status = RULES_ERR;

	if (root != NULL && p != NULL && rules_params_from_json(root, p, &err) == RULES_OK) {
		rules_contract_init(&c, true);
		c.g[cat].form = RULES_FORM_PCT;
		c.g[cat].pct_brss = pct;
		for (int i = 0; i < 2; i++) {
			rules_line_init(&l[i]);
			l[i].category = cat;
			l[i].charged_cents = cents;
			l[i].brss_cents = cents;
			l[i].amo_rate = rate;
			l[i].date = rules_date_from_days(rules_date_to_days(day) - 1 + i);
		}
		status = rules_compute(p, &req, r, &t, &err);
	}
	json_decref(root);
	free(p);
	return status;
}

/* The same consultation withholds the PF of its date. */
static void test_engine_uses_the_date(void)
{
	struct rules_line_result r[2];

	REQUIRE(decide_across(versioned_json(), RULES_CAT_CONSULT_GP, 3000, 70, 100, 20240515, r) ==
		RULES_OK);
	CHECK_EQ_I64(r[0].pf_cents, 100);
	CHECK_EQ_I64(r[1].pf_cents, 200);
}

/* A medicine at 30 % on a responsible contract covering 0 %: its TM is
 * not due while the rate is exempt, and due from the day a version of
 * the parameters exempts no rate (a decree, for the test only). */
static void test_exempt_rates_by_date(void)
{
	json_t *root = deploy_json();
	struct rules_line_result r[2];

	REQUIRE(root != NULL);
	json_array_append_new(json_object_get(root, "responsible"),
			      json_loads("{\"since\": \"2026-07-01\", \"non_optam_max_pct\": 200,"
					 "\"non_optam_gap_points\": 20, \"parcours_ref_rate\": 70,"
					 "\"pharma_tm_exempt_rates\": []}",
					 0, NULL));
	REQUIRE(decide_across(root, RULES_CAT_PHARMA, 1000, 30, 0, 20260701, r) == RULES_OK);
	CHECK_EQ_I64(r[0].amc_cents, 0);
	CHECK_EQ_I64(r[1].amc_cents, 700); /* the TM: 70 % of 10 euros */
}

static const struct {
	const char *path;
	const char *value; /* NULL: delete */
	const char *field;
} faults[] = {
	{"pf", NULL, "pf"},
	{"pf", "[]", "pf"},
	{"pf", "{}", "pf"},
	{"pf[0].per_act_cents", "-1", "pf[0].per_act_cents"},
	{"pf[0].per_act_cents", "2.5", "pf[0].per_act_cents"},
	{"pf[0].per_act_cents", NULL, "pf[0].per_act_cents"},
	{"pf[0].foo", "1", "pf[0].foo"},
	{"pf[0].since", "\"2024-13-01\"", "pf[0].since"},
	{"pf[1]",
	 "{\"since\": \"2024-05-15\", \"per_act_cents\": 1, \"daily_cap_cents\": 1,"
	 "\"annual_cap_cents\": 1, \"exempt_under_age\": 18}",
	 "pf"},
	{"format", "2", "format"},
	{"format", NULL, "format"},
	{"extra", "1", "extra"},
	{"franchise[0].exempt_under_age", "200", "franchise[0].exempt_under_age"},
	{"optics[0].ceilings_cents.simple+simple", NULL, "optics[0].ceilings_cents.simple+simple"},
	{"optics[0].ceilings_cents.bifocal", "1", "optics[0].ceilings_cents.bifocal"},
	{"optics[0].ceilings_cents", NULL, "optics[0].ceilings_cents"},
	{"responsible[0].parcours_ref_rate", "101", "responsible[0].parcours_ref_rate"},
	/* A renewal of 0 months pays a second equipment bought the same day. */
	{"renewal[0].glasses_months", "0", "renewal[0].glasses_months"},
	{"renewal[0].glasses_child_months", "0", "renewal[0].glasses_child_months"},
	{"renewal[0].audio_months", "0", "renewal[0].audio_months"},
	{"renewal[0].audio_months", "61", "renewal[0].audio_months"},
	/* The TM (100 % BRSS) is always covered; the reference is a rate. */
	{"responsible[0].non_optam_max_pct", "99", "responsible[0].non_optam_max_pct"},
	{"responsible[0].parcours_ref_rate", "0", "responsible[0].parcours_ref_rate"},
	/* At 100 % there is no TM; at 0 nothing is reimbursed. */
	{"responsible[0].pharma_tm_exempt_rates", NULL, "responsible[0].pharma_tm_exempt_rates"},
	{"responsible[0].pharma_tm_exempt_rates", "[100]", "responsible[0].pharma_tm_exempt_rates"},
	{"responsible[0].pharma_tm_exempt_rates", "[0]", "responsible[0].pharma_tm_exempt_rates"},
	{"responsible[0].pharma_tm_exempt_rates", "[\"15\"]",
	 "responsible[0].pharma_tm_exempt_rates"},
	{"responsible[0].pharma_tm_exempt_rates", "15", "responsible[0].pharma_tm_exempt_rates"},
	{"responsible[0].pharma_tm_exempt_rates", "[15, 30, 35, 40, 45]",
	 "responsible[0].pharma_tm_exempt_rates"},
	{"acts[0].category", "\"DENTIST\"", "acts[0].category"},
	{"acts[0].code", "\"ABCDEFGHIJKLMNOPQ\"", "acts[0].code"},
	{"acts[0].amo_rate", "150", "acts[0].amo_rate"},
	{"acts[0].under_age", "0", "acts[0].under_age"},
	{"acts[1]",
	 "{\"code\": \"G\", \"category\": \"CONSULT_GP\", \"since\": \"2024-12-22\","
	 "\"brss_cents\": 1, \"amo_rate\": 70}",
	 "acts[1]"},
};

static void test_faults(void)
{
	for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		json_t *root = deploy_json();
		struct rules_params *p = malloc(sizeof *p);
		struct rules_error err = {"", "", -1};

		REQUIRE(root != NULL && p != NULL);
		mutate(root, faults[i].path, faults[i].value);
		CHECK(rules_params_from_json(root, p, &err) == RULES_ERR);
		if (strcmp(err.field, faults[i].field) != 0)
			printf("  case %zu: %s: %s\n", i, err.field, err.reason);
		CHECK_EQ_STR(err.field, faults[i].field);
		json_decref(root);
		free(p);
	}
}

static void test_syntax(void)
{
	struct rules_params *p = malloc(sizeof *p);
	struct rules_error err;
	const char *dup = "{\"format\": 1, \"format\": 1}";

	REQUIRE(p != NULL);
	CHECK(rules_params_from_string("{\"format\": ", 11, p, &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "(json)");
	CHECK(rules_params_from_string(dup, strlen(dup), p, &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "(json)");
	CHECK(rules_params_from_string("[]", 2, p, &err) == RULES_ERR);
	free(p);
}

int main(void)
{
	RUN(test_deploy_file);
	RUN(test_param_set);
	RUN(test_act_lookup);
	RUN(test_versions_by_date);
	RUN(test_engine_uses_the_date);
	RUN(test_exempt_rates_by_date);
	RUN(test_faults);
	RUN(test_syntax);
	return test_report();
}
