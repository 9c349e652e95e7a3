/*
 * NAME
 *	test_rules_json.c - the simulate request: strict validation, result
 *
 * DESCRIPTION
 *	A valid request is broken one way at a time (missing member, wrong
 *	type, unknown category, negative amount, bad date, unknown lens,
 *	100PS without a price limit, unknown member...) and each must be
 *	refused naming exactly the right member by its JSON path. Then the
 *	shape of the result, and the guarantee readers the reimbursement
 *	daemon uses on the JSON stored in PostgreSQL.
 *	Runs from the repository root.
 */
#include <stdlib.h>

#include "rules/rules_json.h"
#include "json_mutate.h"
#include "common/params.h"
#include "test.h"

static struct rules_params params;

static const char base[] =
	"{\"beneficiary\": {\"birth_date\": \"1980-05-01\"},"
	" \"contract\": {\"responsible\": true, \"guarantees\": {"
	"   \"CONSULT_GP\": {\"pct_brss\": 100},"
	"   \"OPTIQUE_EQUIPEMENT\": {\"equipment_cents\": 25000}}},"
	" \"history\": [{\"date\": \"2026-01-10\", \"category\": \"CONSULT_GP\","
	"   \"pf_cents\": 200, \"amc_cents\": 900}],"
	" \"lines\": [{\"id\": \"L1\", \"date\": \"2026-03-10\", \"category\": \"CONSULT_GP\","
	"   \"charged_cents\": 3000, \"brss_cents\": 3000, \"amo_rate\": 70}]}";

/* The parameters every program reads (common/params.c), from the repo root. */
static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
}

struct bad_case {
	const char *set[3][2]; /* up to three {path, value or NULL} */
	const char *field;
};

#define L0 "lines[0]."
#define G  "contract.guarantees."

static const struct bad_case bad[] = {
	{{{"beneficiary", NULL}}, "beneficiary"},
	{{{"beneficiary", "[]"}}, "beneficiary"},
	{{{"beneficiary.birth_date", NULL}}, "beneficiary.birth_date"},
	{{{"beneficiary.birth_date", "\"1980-13-01\""}}, "beneficiary.birth_date"},
	{{{"beneficiary.birth_date", "19800501"}}, "beneficiary.birth_date"},
	{{{"beneficiary.exempt", "[\"ALD\"]"}}, "beneficiary.exempt[0]"},
	{{{"beneficiary.exempt", "\"C2S\""}}, "beneficiary.exempt"},
	{{{"beneficiary.nir", "\"1800575\""}}, "beneficiary.nir"},
	{{{"contract", NULL}}, "contract"},
	{{{"contract.responsible", "\"yes\""}}, "contract.responsible"},
	{{{"contract.guarantees", NULL}}, "contract.guarantees"},
	{{{"contract.guarantees", "[]"}}, "contract.guarantees"},
	{{{G "DENTIST", "{\"pct_brss\": 100}"}}, G "DENTIST"},
	{{{G "CONSULT_GP", "{}"}}, G "CONSULT_GP"},
	{{{G "CONSULT_GP", "100"}}, G "CONSULT_GP"},
	{{{G "CONSULT_GP.per_act_cents", "500"}}, G "CONSULT_GP.per_act_cents"},
	{{{G "CONSULT_GP.pct_brss", "12.5"}}, G "CONSULT_GP.pct_brss"},
	{{{G "CONSULT_GP.pct_brss", "-1"}}, G "CONSULT_GP.pct_brss"},
	{{{G "CONSULT_GP.pct_brss", "100000"}}, G "CONSULT_GP.pct_brss"},
	{{{G "CONSULT_GP.max_acts_per_year", "3"}}, G "CONSULT_GP.max_acts_per_year"},
	{{{G "CONSULT_GP.renewal_months", "12"}}, G "CONSULT_GP.renewal_months"},
	{{{G "CONSULT_GP.plafond", "12"}}, G "CONSULT_GP.plafond"},
	/* Read only on doctors' fees: elsewhere it would be ignored. */
	{{{G "PHARMA", "{\"pct_brss\": 100, \"non_optam_pct_brss\": 100}"}},
	 G "PHARMA.non_optam_pct_brss"},
	{{{G "DENT_PROTHESE", "{\"pct_brss\": 300, \"non_optam_pct_brss\": 200}"}},
	 G "DENT_PROTHESE.non_optam_pct_brss"},
	{{{G "CONSULT_GP", "{\"frais_reels\": false}"}}, G "CONSULT_GP.frais_reels"},
	{{{G "CONSULT_GP", "{\"frais_reels\": 1}"}}, G "CONSULT_GP.frais_reels"},
	{{{G "MEDECINE_DOUCE", "{\"per_act_cents\": 3500, \"max_acts_per_year\": 0}"}},
	 G "MEDECINE_DOUCE.max_acts_per_year"},
	{{{G "OPTIQUE_EQUIPEMENT.renewal_months", "0"}}, G "OPTIQUE_EQUIPEMENT.renewal_months"},
	/* longer than the five years of equipments the daemons read */
	{{{G "OPTIQUE_EQUIPEMENT.renewal_months", "61"}}, G "OPTIQUE_EQUIPEMENT.renewal_months"},
	{{{G "OPTIQUE_EQUIPEMENT.annual_cap_cents", "-5"}},
	 G "OPTIQUE_EQUIPEMENT.annual_cap_cents"},
	{{{"history", "{}"}}, "history"},
	{{{"history[0].category", "\"X\""}}, "history[0].category"},
	{{{"history[0].amc_cents", "-1"}}, "history[0].amc_cents"},
	{{{"history[0].date", NULL}}, "history[0].date"},
	{{{"history[0].quantity", "0"}}, "history[0].quantity"},
	{{{"history[0].equipment", "\"yes\""}}, "history[0].equipment"},
	{{{"history[0].id", "\"H1\""}}, "history[0].id"},
	{{{"lines", "[]"}}, "lines"},
	{{{"lines", NULL}}, "lines"},
	{{{"lines", "{}"}}, "lines"},
	{{{"lines[0]", "\"L1\""}}, "lines[0]"},
	{{{L0 "charged_cents", "-1"}}, L0 "charged_cents"},
	{{{L0 "charged_cents", NULL}}, L0 "charged_cents"},
	{{{L0 "charged_cents", "\"3000\""}}, L0 "charged_cents"},
	{{{L0 "charged_cents", "30.00"}}, L0 "charged_cents"},
	{{{L0 "charged_cents", "10000000000000"}}, L0 "charged_cents"},
	{{{L0 "brss_cents", "-3000"}}, L0 "brss_cents"},
	{{{L0 "category", "\"DENTIST\""}}, L0 "category"},
	{{{L0 "category", NULL}}, L0 "category"},
	{{{L0 "date", "\"2026-02-30\""}}, L0 "date"},
	{{{L0 "date", "\"10/03/2026\""}}, L0 "date"},
	{{{L0 "date", "\"1970-01-01\""}}, L0 "date"},
	{{{L0 "amo_rate", "101"}}, L0 "amo_rate"},
	{{{L0 "quantity", "0"}}, L0 "quantity"},
	{{{L0 "optam", "1"}}, L0 "optam"},
	{{{L0 "parcours", "null"}}, L0 "parcours"},
	{{{L0 "unknown", "1"}}, L0 "unknown"},
	{{{"extra", "1"}}, "extra"},
	{{{L0 "id", "\"\""}}, L0 "id"},
	{{{L0 "id", NULL}}, L0 "id"},
	{{{L0 "id", "7"}}, L0 "id"},
	{{{"lines[1]", "{\"id\": \"L1\", \"date\": \"2026-03-10\", \"category\": \"PHARMA\","
		       "\"charged_cents\": 100}"}},
	 "lines[1].id"},
	{{{L0 "basket", "\"GOLD\""}}, L0 "basket"},
	{{{L0 "basket", "\"100PS\""}}, L0 "basket"}, /* not on a consultation */
	{{{L0 "price_limit_cents", "5000"}}, L0 "price_limit_cents"},
	{{{L0 "category", "\"DENT_PROTHESE\""}, {L0 "basket", "\"100PS\""}},
	 L0 "price_limit_cents"},
	{{{L0 "category", "\"DENT_PROTHESE\""},
	  {L0 "basket", "\"100PS\""},
	  {L0 "price_limit_cents", "2000"}},
	 L0 "price_limit_cents"},
	/* At least the BRSS with any basket, not only 100PS. */
	{{{L0 "category", "\"DENT_PROTHESE\""},
	  {L0 "basket", "\"MAITRISE\""},
	  {L0 "price_limit_cents", "2999"}},
	 L0 "price_limit_cents"},
	{{{L0 "category", "\"DENT_PROTHESE\""},
	  {L0 "basket", "\"LIBRE\""},
	  {L0 "price_limit_cents", "0"}},
	 L0 "price_limit_cents"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""}, {L0 "basket", "\"MAITRISE\""}}, L0 "basket"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""}, {L0 "basket", "\"LIBRE\""}}, L0 "lenses"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""}, {L0 "lenses", "[\"simple\"]"}}, L0 "lenses"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""}, {L0 "lenses", "[\"simple\", \"triple\"]"}},
	 L0 "lenses[1]"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""}, {L0 "lenses", "[\"simple\", 2]"}},
	 L0 "lenses[1]"},
	{{{L0 "category", "\"OPTIQUE_EQUIPEMENT\""},
	  {L0 "lenses", "[\"simple\", \"simple\"]"},
	  {L0 "frame_charged_cents", "5000"}},
	 L0 "frame_charged_cents"},
	{{{L0 "lenses", "[\"simple\", \"simple\"]"}}, L0 "lenses"},
	{{{L0 "frame_charged_cents", "100"}}, L0 "frame_charged_cents"},
	{{{L0 "act", "\"ZZZ\""}, {L0 "brss_cents", NULL}}, L0 "act"},
	{{{L0 "act", "\"APC\""}}, L0 "act"},
	{{{L0 "act", "\"\""}}, L0 "act"},
	{{{L0 "act", "\"THIS_CODE_IS_TOO_LONG\""}}, L0 "act"},
	{{{L0 "charged_cents", "100"}}, L0 "charged_cents"}, /* below the AMO share */
	{{{L0 "date", "\"2020-01-10\""}}, L0 "date"},	     /* no PF in force */
};

static void test_bad_requests(void)
{
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *root = json_loads(base, 0, NULL);
		char *text, *out = NULL;
		struct rules_error err = {"", "", -1};
		int rc;

		REQUIRE(root != NULL);
		for (int k = 0; k < 3 && bad[i].set[k][0] != NULL; k++)
			mutate(root, bad[i].set[k][0], bad[i].set[k][1]);
		text = json_dumps(root, JSON_COMPACT);
		rc = rules_json_simulate(&params, text, strlen(text), &out, &err);
		CHECK(rc == RULES_ERR);
		CHECK(out == NULL);
		if (strcmp(err.field, bad[i].field) != 0)
			printf("  case %zu (%s): got %s: %s\n", i, bad[i].field, err.field,
			       err.reason);
		CHECK_EQ_STR(err.field, bad[i].field);
		CHECK(err.reason[0] != '\0');
		free(out);
		free(text);
		json_decref(root);
	}
}

static void test_syntax_errors(void)
{
	static const char *const texts[] = {
		"",
		"{",
		"[]",
		"null",
		"{\"lines\": []} trailing",
		"{\"beneficiary\": {}, \"beneficiary\": {}}",
	};
	static const char *const fields[] = {
		"(json)", "(json)", "(request)", "(json)", "(json)", "(json)",
	};

	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
		char *out = NULL;
		struct rules_error err = {"", "", -1};

		CHECK(rules_json_simulate(&params, texts[i], strlen(texts[i]), &out, &err) ==
		      RULES_ERR);
		CHECK_EQ_STR(err.field, fields[i]);
		free(out);
	}
}

/* Defaults of section 4 and the members of the result. */
static void test_result(void)
{
	char *out = NULL;
	struct rules_error err;
	json_t *res, *line;

	REQUIRE(rules_json_simulate(&params, base, strlen(base), &out, &err) == RULES_OK);
	REQUIRE(out != NULL && out[strlen(out) - 1] == '\n');
	res = json_loads(out, 0, NULL);
	REQUIRE(res != NULL);
	line = json_array_get(json_object_get(res, "lines"), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(line, "id")), "L1");
	CHECK_EQ_I64(json_integer_value(json_object_get(line, "amo_gross_cents")), 2100);
	CHECK_EQ_I64(json_integer_value(json_object_get(line, "pf_cents")), 200);
	CHECK_EQ_I64(json_integer_value(json_object_get(line, "amc_cents")), 900);
	CHECK_EQ_I64(json_integer_value(json_object_get(line, "rac_cents")), 200);
	CHECK_EQ_I64(json_array_size(json_object_get(line, "rules")), 2);
	CHECK_EQ_STR(json_string_value(json_array_get(json_object_get(line, "rules"), 0)), "PF");
	CHECK_EQ_I64(json_integer_value(
			     json_object_get(json_object_get(res, "totals"), "charged_cents")),
		     3000);
	json_decref(res);
	free(out);
}

/* A request is parsed once into structs the engine reads. */
static void test_parsed_structs(void)
{
	json_t *root = json_loads(base, 0, NULL);
	struct rules_doc doc;
	struct rules_error err;

	REQUIRE(root != NULL);
	mutate(root, "contract.responsible", NULL);
	mutate(root, "history[0].category", "\"OPTIQUE_EQUIPEMENT\"");
	REQUIRE(rules_json_request(root, &doc, &err) == RULES_OK);
	json_decref(root);
	CHECK(doc.req.contract->responsible); /* the default */
	CHECK_EQ_I64(doc.req.n_history, 1);
	CHECK(doc.req.history[0].equipment); /* glasses the AMC paid */
	CHECK_EQ_I64(doc.req.n_lines, 1);
	CHECK_EQ_STR(doc.req.lines[0].id, "L1"); /* still held by doc */
	CHECK_EQ_I64(doc.req.lines[0].quantity, 1);
	CHECK(doc.req.lines[0].optam && doc.req.lines[0].parcours);
	CHECK_EQ_I64(doc.req.lines[0].date, 20260310);
	CHECK_EQ_I64(doc.req.lines[0].given, RULES_GIVEN_BRSS | RULES_GIVEN_AMO_RATE);
	CHECK_EQ_I64(doc.contract.g[RULES_CAT_CONSULT_GP].form, RULES_FORM_PCT);
	CHECK_EQ_I64(doc.contract.g[RULES_CAT_PHARMA].form, RULES_FORM_NONE);
	rules_doc_free(&doc);
}

/* What the daemon does with guarantees.spec rows of PostgreSQL. */
static void test_guarantee_readers(void)
{
	json_t *spec = json_loads("{\"pct_brss\": 200, \"non_optam_pct_brss\": 180,"
				  " \"annual_cap_cents\": 50000}",
				  0, NULL);
	json_t *all = json_loads("{\"AUDIO\": {\"equipment_cents\": 150000,"
				 " \"renewal_months\": 60}, \"MEDECINE_DOUCE\":"
				 " {\"annual_cents\": 15000}}",
				 0, NULL);
	struct rules_guarantee g;
	struct rules_contract c;
	struct rules_error err;

	REQUIRE(spec != NULL && all != NULL);
	REQUIRE(rules_json_guarantee(spec, RULES_CAT_CONSULT_SPEC, &g, "spec", &err) == RULES_OK);
	CHECK_EQ_I64(g.form, RULES_FORM_PCT);
	CHECK_EQ_I64(g.pct_brss, 200);
	CHECK_EQ_I64(g.non_optam_pct_brss, 180);
	CHECK_EQ_I64(g.annual_cap_cents, 50000);
	CHECK_EQ_I64(g.has, RULES_G_NON_OPTAM | RULES_G_ANNUAL_CAP);
	rules_contract_init(&c, true);
	c.g[RULES_CAT_CONSULT_SPEC] = g;
	REQUIRE(rules_json_guarantees(all, &c, "guarantees", &err) == RULES_OK);
	CHECK_EQ_I64(c.g[RULES_CAT_CONSULT_SPEC].pct_brss, 200); /* kept */
	CHECK_EQ_I64(c.g[RULES_CAT_AUDIO].renewal_months, 60);
	CHECK_EQ_I64(c.g[RULES_CAT_MEDECINE_DOUCE].form, RULES_FORM_NONE);
	CHECK_EQ_I64(c.g[RULES_CAT_MEDECINE_DOUCE].annual_cents, 15000);
	/* The same spec is refused where its members do not apply. */
	CHECK(rules_json_guarantee(json_object_get(all, "AUDIO"), RULES_CAT_PHARMA, &g,
				   "guarantees.PHARMA", &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "guarantees.PHARMA.renewal_months");
	json_decref(spec);
	json_decref(all);
}

int main(void)
{
	RUN(load_params);
	RUN(test_bad_requests);
	RUN(test_syntax_errors);
	RUN(test_result);
	RUN(test_parsed_structs);
	RUN(test_guarantee_readers);
	return test_report();
}
