/*
 * NAME
 *	test_rules_formula.c - contrat responsable check of formulas
 *
 * DESCRIPTION
 *	Compliant formulas (those of deploy/formulas/ and hand-made ones)
 *	have no issue; each way of breaking the frame gives an issue naming
 *	the category; a formula not declared responsible is not judged;
 *	the three shapes of formula document are read and their faults
 *	named. Runs from the repository root.
 */
#include <glob.h>
#include <stdlib.h>

#include "rules/rules_json.h"
#include "common/params.h"
#include "test.h"

static struct rules_params params;
static struct rules_formula formula;

/* The parameters every program reads (common/params.c), from the repo root. */
static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
}

static int parse(const char *text, struct rules_error *err)
{
	json_t *root = json_loads(text, 0, NULL);
	int rc;

	if (root == NULL) {
		printf("  bad JSON in test: %s\n", text);
		return RULES_ERR;
	}
	rc = rules_json_formula(root, &formula, err);
	json_decref(root);
	return rc;
}

/* What issues_of() gives when the formula could not be judged: matches
 * no count a test expects, so that "no issue" is never read from a
 * refusal. */
#define NOT_JUDGED 999

/* Issues of a one-version formula whose guarantees are given. */
static size_t issues_of(const char *guarantees, bool responsible, struct rules_formula_issue *out,
			size_t max)
{
	char text[2048];
	struct rules_error err;
	size_t n = 0;
	int rc;

	snprintf(text, sizeof text, "{\"code\": \"T\", \"responsible\": %s, \"guarantees\": %s}",
		 responsible ? "true" : "false", guarantees);
	rc = parse(text, &err);
	if (rc != RULES_OK)
		printf("  %s: %s\n", err.field, err.reason);
	CHECK(rc == RULES_OK);
	if (rc != RULES_OK)
		return NOT_JUDGED;
	rc = rules_formula_check(&formula.v[0].contract, &params, 20260101, out, max, &n, &err);
	if (rc != RULES_OK)
		printf("  check: %s: %s\n", err.field, err.reason);
	CHECK(rc == RULES_OK);
	return rc == RULES_OK ? n : NOT_JUDGED;
}

static void test_deploy_formulas(void)
{
	glob_t g;

	REQUIRE(glob("deploy/formulas/*.json", 0, NULL, &g) == 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		json_t *root = json_load_file(g.gl_pathv[i], 0, NULL);
		struct rules_formula_issue issues[16];
		struct rules_error err;
		size_t n;

		REQUIRE(root != NULL);
		CHECK(rules_json_formula(root, &formula, &err) == RULES_OK);
		json_decref(root);
		for (size_t v = 0; v < formula.n_versions; v++) {
			CHECK(rules_formula_check(&formula.v[v].contract, &params,
						  formula.v[v].effective_from, issues, 16, &n,
						  &err) == RULES_OK);
			for (size_t k = 0; k < n && k < 16; k++)
				printf("  %s v%d: %s\n", g.gl_pathv[i], (int)formula.v[v].version,
				       issues[k].reason);
			CHECK_EQ_I64(n, 0);
		}
	}
	globfree(&g);
}

static const char *const good[] = {
	"{}",
	"{\"CONSULT_GP\": {\"pct_brss\": 100}, \"CONSULT_SPEC\": {\"pct_brss\": 100}}",
	"{\"CONSULT_SPEC\": {\"pct_brss\": 300, \"non_optam_pct_brss\": 200}}",
	"{\"CONSULT_SPEC\": {\"pct_brss\": 150, \"non_optam_pct_brss\": 130}}",
	"{\"CONSULT_SPEC\": {\"pct_brss\": 150, \"non_optam_pct_brss\": 100}}",
	"{\"PHARMA\": {\"pct_brss\": 100}, \"HOSP_FJH\": {\"frais_reels\": true}}",
	"{\"HOSP_FJH\": {\"per_act_cents\": 2000}}",
	"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 42000, \"renewal_months\": 24}}",
	"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 30000, \"annual_cents\": 12000}}",
	"{\"AUDIO\": {\"pct_brss\": 100, \"annual_cents\": 100000}}",
	"{\"AUDIO\": {\"equipment_cents\": 170000}}",
	"{\"AUDIO\": {\"equipment_cents\": 170000, \"renewal_months\": 60}}",
	/* No BRSS of a hearing aid in the data: a percentage alone is not
	 * weighed against the ceiling (the engine caps the line). */
	"{\"AUDIO\": {\"pct_brss\": 500}}",
	"{\"HOSP_SEJOUR\": {\"frais_reels\": true}, \"HOSP_CHAMBRE\": {\"per_act_cents\": 9000}}",
	"{\"MEDECINE_DOUCE\": {\"per_act_cents\": 4000, \"max_acts_per_year\": 6}}",
	"{\"OPTIQUE_LENTILLES\": {\"pct_brss\": 100, \"annual_cents\": 25000}}",
	"{\"DENT_PROTHESE\": {\"pct_brss\": 400, \"annual_cap_cents\": 250000}}",
	"{\"URGENCES_FPU\": {\"frais_reels\": true}}",
};

static void test_good(void)
{
	struct rules_formula_issue issues[8];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		size_t n = issues_of(good[i], true, issues, 8);

		if (n != 0)
			printf("  good[%zu]: %s\n", i, n < 8 ? issues[0].reason : "?");
		CHECK_EQ_I64(n, 0);
	}
}

static const struct {
	const char *guarantees;
	int category;
	const char *says; /* part of the reason */
} bad[] = {
	{"{\"PHARMA\": {\"pct_brss\": 90}}", RULES_CAT_PHARMA, "ticket modérateur"},
	{"{\"DENT_SOINS\": {\"pct_brss\": 0}}", RULES_CAT_DENT_SOINS, "ticket modérateur"},
	{"{\"CONSULT_SPEC\": {\"pct_brss\": 150, \"non_optam_pct_brss\": 80}}",
	 RULES_CAT_CONSULT_SPEC, "ticket modérateur"},
	{"{\"CONSULT_SPEC\": {\"pct_brss\": 150}}", RULES_CAT_CONSULT_SPEC, "20 points"},
	{"{\"CONSULT_GP\": {\"pct_brss\": 200, \"non_optam_pct_brss\": 190}}", RULES_CAT_CONSULT_GP,
	 "20 points"},
	{"{\"RADIOLOGIE\": {\"pct_brss\": 400, \"non_optam_pct_brss\": 250}}", RULES_CAT_RADIOLOGIE,
	 "above 200"},
	{"{\"HOSP_HONORAIRES\": {\"frais_reels\": true}}", RULES_CAT_HOSP_HONORAIRES, "beyond 200"},
	{"{\"CONSULT_GP\": {\"frais_reels\": true}}", RULES_CAT_CONSULT_GP, "parcours"},
	{"{\"CONSULT_GP\": {\"per_act_cents\": 2000}}", RULES_CAT_CONSULT_GP, "forfait"},
	{"{\"CONSULT_SPEC\": {\"pct_brss\": 100, \"annual_cents\": 5000}}", RULES_CAT_CONSULT_SPEC,
	 "annual_cents"},
	{"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 60000}}", RULES_CAT_OPTIQUE_EQUIPEMENT,
	 "420.00"},
	{"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 40000, \"annual_cents\": 5000}}",
	 RULES_CAT_OPTIQUE_EQUIPEMENT, "450.00"},
	{"{\"OPTIQUE_EQUIPEMENT\": {\"frais_reels\": true}}", RULES_CAT_OPTIQUE_EQUIPEMENT,
	 "class B"},
	{"{\"AUDIO\": {\"equipment_cents\": 200000}}", RULES_CAT_AUDIO, "1700.00"},
	{"{\"AUDIO\": {\"frais_reels\": true}}", RULES_CAT_AUDIO, "class II"},
	/* The BRSS (above 0: the AMO reimburses) comes on top of the envelope. */
	{"{\"AUDIO\": {\"pct_brss\": 100, \"annual_cents\": 170000}}", RULES_CAT_AUDIO,
	 "at least 100 % of the BRSS"},
	{"{\"AUDIO\": {\"annual_cents\": 170000}}", RULES_CAT_AUDIO, "1700.00"},
	{"{\"AUDIO\": {\"pct_brss\": 100, \"annual_cents\": 170001}}", RULES_CAT_AUDIO, "1700.01"},
	{"{\"HOSP_FJH\": {\"per_act_cents\": 1500}}", RULES_CAT_HOSP_FJH, "20.00"},
	{"{\"HOSP_FJH\": {\"per_act_cents\": 2000, \"max_acts_per_year\": 30}}", RULES_CAT_HOSP_FJH,
	 "limit of days"},
	{"{\"HOSP_FJH\": {\"frais_reels\": true, \"annual_cap_cents\": 100000}}",
	 RULES_CAT_HOSP_FJH, "in full"},
	{"{\"HOSP_FJH\": {\"pct_brss\": 100}}", RULES_CAT_HOSP_FJH, "no BRSS"},
	{"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 20000, \"renewal_months\": 6}}",
	 RULES_CAT_OPTIQUE_EQUIPEMENT, "sooner than the legal renewal of 24 months (12 under 16)"},
	{"{\"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 20000, \"renewal_months\": 12}}",
	 RULES_CAT_OPTIQUE_EQUIPEMENT, "renewal_months 12"},
	{"{\"AUDIO\": {\"equipment_cents\": 100000, \"renewal_months\": 12}}", RULES_CAT_AUDIO,
	 "legal renewal of 48 months"},
};

static void test_bad(void)
{
	struct rules_formula_issue issues[8];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t n = issues_of(bad[i].guarantees, true, issues, 8);

		CHECK(n >= 1 && n < 8);
		if (n < 1 || n >= 8)
			continue;
		CHECK_EQ_I64(issues[0].category, bad[i].category);
		if (strstr(issues[0].reason, bad[i].says) == NULL)
			printf("  bad[%zu]: \"%s\" does not say \"%s\"\n", i, issues[0].reason,
			       bad[i].says);
		CHECK(strstr(issues[0].reason, bad[i].says) != NULL);
		/* Not declared responsible: nothing to judge. */
		CHECK_EQ_I64(issues_of(bad[i].guarantees, false, issues, 8), 0);
	}
}

/* Every issue is counted, even beyond the room given for them. */
static void test_many_issues(void)
{
	struct rules_formula_issue issues[2];
	size_t n = issues_of("{\"PHARMA\": {\"pct_brss\": 10}, \"DENT_SOINS\": {\"pct_brss\": 10},"
			     " \"AUDIO\": {\"frais_reels\": true}}",
			     true, issues, 2);

	CHECK_EQ_I64(n, 3);
}

static void test_shapes(void)
{
	struct rules_error err;
	const char *versions =
		"{\"code\": \"X\", \"label\": \"x\", \"responsible\": true,"
		" \"versions\": [{\"version\": 1, \"effective_from\": \"2024-01-01\","
		" \"effective_to\": \"2026-01-01\", \"guarantees\": {}},"
		" {\"version\": 2, \"effective_from\": \"2026-01-01\","
		" \"guarantees\": {\"PHARMA\": {\"pct_brss\": 100}}}]}";

	REQUIRE(parse(versions, &err) == RULES_OK);
	CHECK_EQ_STR(formula.code, "X");
	CHECK_EQ_I64(formula.n_versions, 2);
	CHECK_EQ_I64(formula.v[1].version, 2);
	CHECK_EQ_I64(formula.v[0].effective_to, 20260101);
	CHECK_EQ_I64(formula.v[1].contract.g[RULES_CAT_PHARMA].form, RULES_FORM_PCT);
	REQUIRE(parse("{\"responsible\": false, \"guarantees\": {}}", &err) == RULES_OK);
	CHECK_EQ_STR(formula.code, "");
	CHECK(!formula.v[0].contract.responsible);
	CHECK(!formula.v[0].has_from);
	REQUIRE(parse("{\"code\": \"Y\", \"effective_from\": \"2026-01-01\", \"guarantees\": {}}",
		      &err) == RULES_OK);
	CHECK(formula.v[0].contract.responsible); /* the default */
	CHECK_EQ_I64(formula.v[0].effective_from, 20260101);
}

/* The database's rule for versions (migration 017): no two in force on
 * the same day. A later number may fill an earlier gap (tests/lib.sh
 * fill_gap_formula), and effective_to null is the NULL of the database. */
static void test_version_periods(void)
{
	struct rules_error err = {"", "", -1};
	const char *gap_filled =
		"{\"versions\": [{\"version\": 1, \"effective_from\": \"2026-06-01\","
		" \"effective_to\": null, \"guarantees\": {}},"
		" {\"version\": 2, \"effective_from\": \"2026-01-01\","
		" \"effective_to\": \"2026-06-01\", \"guarantees\": {}},"
		" {\"version\": 3, \"effective_from\": \"2024-01-01\","
		" \"effective_to\": \"2025-01-01\", \"guarantees\": {}}]}";
	const char *overlapping =
		"{\"versions\": [{\"version\": 1, \"effective_from\": \"2024-01-01\","
		" \"effective_to\": null, \"guarantees\": {}},"
		" {\"version\": 2, \"effective_from\": \"2026-01-01\", \"guarantees\": {}}]}";

	if (parse(gap_filled, &err) != RULES_OK)
		printf("  %s: %s\n", err.field, err.reason);
	REQUIRE(parse(gap_filled, &err) == RULES_OK);
	CHECK_EQ_I64(formula.n_versions, 3);
	CHECK(!formula.v[0].has_to);
	CHECK(formula.v[1].has_to);
	CHECK_EQ_I64(formula.v[1].effective_to, 20260601);
	CHECK(parse(overlapping, &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "versions[1]");
	CHECK_EQ_STR(err.reason, "overlaps versions[0] (both in force on 2026-01-01)");
}

static const struct {
	const char *text;
	const char *field;
} malformed[] = {
	{"[]", "(formula)"},
	{"{\"code\": \"X\"}", "guarantees"},
	{"{\"guarantees\": {}, \"versions\": []}", "versions"},
	{"{\"versions\": []}", "versions"},
	{"{\"versions\": [{\"version\": 1, \"guarantees\": {}}]}", "versions[0].effective_from"},
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2026-01-01\"}]}",
	 "versions[0].guarantees"},
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2026-01-01\","
	 " \"effective_to\": \"2025-01-01\", \"guarantees\": {}}]}",
	 "versions[0].effective_to"},
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2026-01-01\", \"guarantees\": {}},"
	 " {\"version\": 1, \"effective_from\": \"2027-01-01\", \"guarantees\": {}}]}",
	 "versions[1].version"},
	/* Two versions in force on the same day, open-ended or not. */
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2024-01-01\", \"guarantees\": {}},"
	 " {\"version\": 2, \"effective_from\": \"2026-01-01\", \"guarantees\": {}}]}",
	 "versions[1]"},
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2024-01-01\","
	 " \"effective_to\": \"2026-01-02\", \"guarantees\": {}},"
	 " {\"version\": 2, \"effective_from\": \"2027-01-01\", \"guarantees\": {}},"
	 " {\"version\": 3, \"effective_from\": \"2026-01-01\", \"effective_to\": \"2027-01-01\","
	 " \"guarantees\": {}}]}",
	 "versions[2]"},
	{"{\"versions\": [{\"version\": 2, \"effective_from\": \"2025-01-01\","
	 " \"effective_to\": \"2025-06-01\", \"guarantees\": {}},"
	 " {\"version\": 1, \"effective_from\": \"2024-01-01\", \"guarantees\": {}}]}",
	 "versions[1]"},
	/* null means "still in force" for effective_to only. */
	{"{\"versions\": [{\"version\": 1, \"effective_from\": null, \"guarantees\": {}}]}",
	 "versions[0].effective_from"},
	{"{\"versions\": [{\"version\": 1, \"effective_from\": \"2026-01-01\","
	 " \"guarantees\": {\"AUDIO\": {\"pct\": 1}}}]}",
	 "versions[0].guarantees.AUDIO.pct"},
	{"{\"guarantees\": {\"PHARMA\": {\"pct_brss\": \"100\"}}}", "guarantees.PHARMA.pct_brss"},
	{"{\"responsible\": 1, \"guarantees\": {}}", "responsible"},
	{"{\"tarif\": 1, \"guarantees\": {}}", "tarif"},
	{"{\"guarantees\": {\"MEDECINE_DOUCE\": {\"per_act_cents\": 3500,"
	 " \"annual_cents\": 10000}}}",
	 "guarantees.MEDECINE_DOUCE.annual_cents"},
};

static void test_malformed(void)
{
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		struct rules_error err = {"", "", -1};

		CHECK(parse(malformed[i].text, &err) == RULES_ERR);
		CHECK_EQ_STR(err.field, malformed[i].field);
	}
}

/* The frame is judged with the parameters in force on the date. */
static void test_date_without_frame(void)
{
	struct rules_formula_issue issues[2];
	struct rules_error err;
	size_t n;

	REQUIRE(parse("{\"guarantees\": {}}", &err) == RULES_OK);
	CHECK(rules_formula_check(&formula.v[0].contract, &params, 20100101, issues, 2, &n, &err) ==
	      RULES_ERR);
	formula.v[0].contract.responsible = false;
	CHECK(rules_formula_check(&formula.v[0].contract, &params, 20100101, issues, 2, &n, &err) ==
	      RULES_OK);
}

int main(void)
{
	RUN(load_params);
	RUN(test_deploy_formulas);
	RUN(test_good);
	RUN(test_bad);
	RUN(test_many_issues);
	RUN(test_shapes);
	RUN(test_version_periods);
	RUN(test_malformed);
	RUN(test_date_without_frame);
	return test_report();
}
