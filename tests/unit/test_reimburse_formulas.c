/*
 * NAME
 *	test_reimburse_formulas.c - which formula version a claim line gets,
 *	and when a worker should read the versions again
 *
 * DESCRIPTION
 *	White-box test of reimburse_formulas.c (included here): a cache built
 *	in memory, and the rows of the versions query as libpq gives them,
 *	made in memory: no database.
 */
#include "../../services/reimburse/reimburse_formulas.c"
#include "test.h"

static rules_date_t day(const char *iso)
{
	rules_date_t d = 0;

	CHECK(rules_date_parse(iso, &d) == RULES_OK);
	return d;
}

/* CONFORT: v1 in 2025, v2 from 2026 on (open). ESSENTIEL: v1 for 2025
 * only (closed). */
static void cache_of_three(struct formula_cache *c, struct formula_version v[3])
{
	memset(v, 0, 3 * sizeof(*v));
	snprintf(v[0].code, sizeof(v[0].code), "CONFORT");
	v[0].version = 1;
	v[0].from = day("2025-01-01");
	v[0].to = day("2026-01-01");
	snprintf(v[1].code, sizeof(v[1].code), "CONFORT");
	v[1].version = 2;
	v[1].from = day("2026-01-01");
	snprintf(v[2].code, sizeof(v[2].code), "ESSENTIEL");
	v[2].version = 1;
	v[2].from = day("2025-01-01");
	v[2].to = day("2026-01-01");
	c->v = v;
	c->count = 3;
}

static void test_find(void)
{
	struct formula_version v[3];
	struct formula_cache c;

	cache_of_three(&c, v);
	CHECK_EQ_I64(formulas_find(&c, "CONFORT", day("2025-06-30"))->version, 1);
	CHECK_EQ_I64(formulas_find(&c, "CONFORT", day("2025-12-31"))->version, 1);
	CHECK_EQ_I64(formulas_find(&c, "CONFORT", day("2026-01-01"))->version,
		     2); /* to exclusive */
	CHECK(formulas_find(&c, "CONFORT", day("2024-12-31")) == NULL);
	CHECK(formulas_find(&c, "ESSENTIEL", day("2026-03-10")) == NULL);
	CHECK(formulas_find(&c, "PREMIUM", day("2026-03-10")) == NULL);
}

static void test_may_be_newer(void)
{
	struct formula_version v[3];
	struct formula_cache c;

	cache_of_three(&c, v);
	/* Unknown formula: maybe published since the load. */
	CHECK(formulas_may_be_newer(&c, "PREMIUM", day("2026-03-10")));
	/* After every version's end: a new version may follow. */
	CHECK(formulas_may_be_newer(&c, "ESSENTIEL", day("2026-03-10")));
	/* Before the first version: a plain partial claim, no reload. */
	CHECK(!formulas_may_be_newer(&c, "CONFORT", day("2024-12-31")));
	CHECK(!formulas_may_be_newer(&c, "ESSENTIEL", day("2024-12-31")));
}

/* A result of the versions query (code, version, responsible, from, to,
 * category, spec), made in memory as libpq would give it. */
static PGresult *versions_result(const char *const rows[][7], int n)
{
	static const char *const names[7] = {
		"formula_code", "version",  "responsible", "effective_from",
		"effective_to", "category", "spec"};
	PGresAttDesc attrs[7];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	memset(attrs, 0, sizeof(attrs));
	if (res == NULL)
		abort();
	for (int c = 0; c < 7; c++) {
		attrs[c].name = (char *)names[c];
		attrs[c].typid = 25; /* text */
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	CHECK(PQsetResultAttrs(res, 7, attrs));
	for (int r = 0; r < n; r++)
		for (int c = 0; c < 7; c++)
			CHECK(PQsetvalue(res, r, c, (char *)rows[r][c],
					 rows[r][c] == NULL ? -1 : (int)strlen(rows[r][c])));
	return res;
}

static void test_a_version_refused_alone(void)
{
	/* CONFORT v2 closes v1 and brings a category of a newer release;
	 * ESSENTIEL v1's renewal period is a string, which the engine
	 * refuses; ESSENTIEL v2 is sound. */
	static const char *const rows[][7] = {
		{"CONFORT", "1", "t", "2025-01-01", "2026-01-01", "CONSULT_GP",
		 "{\"pct_brss\":150}"},
		{"CONFORT", "2", "t", "2026-01-01", "", "CONSULT_GP", "{\"pct_brss\":200}"},
		{"CONFORT", "2", "t", "2026-01-01", "", "TELEPORTATION", "{\"pct_brss\":100}"},
		{"ESSENTIEL", "1", "t", "2025-01-01", "2026-01-01", "OPTIQUE_EQUIPEMENT",
		 "{\"equipment_cents\":10000,\"renewal_months\":\"24\"}"},
		{"ESSENTIEL", "2", "t", "2026-01-01", "", "CONSULT_GP", "{\"pct_brss\":100}"},
		{"SANS", "1", "f", "2025-01-01", "", NULL, NULL},
	};
	PGresult *res = versions_result(rows, 6);
	struct formula_cache c = {NULL, 0, 0, 0};
	const struct formula_version *f;

	REQUIRE(fill(&c, res) == OK);
	PQclear(res);
	CHECK_EQ_I64(c.count, 5);
	CHECK_EQ_I64(c.refused, 2);
	/* The sound versions are used, the closed one only up to its end. */
	f = formulas_find(&c, "CONFORT", day("2025-12-31"));
	REQUIRE(f != NULL);
	CHECK_EQ_I64(f->version, 1);
	CHECK_EQ_I64(f->contract.g[RULES_CAT_CONSULT_GP].pct_brss, 150);
	CHECK(formulas_find(&c, "ESSENTIEL", day("2026-03-10")) != NULL);
	CHECK(formulas_find(&c, "SANS", day("2026-03-10")) != NULL);
	/* The refused ones never, yet known with their dates: no reload
	 * at every claim, and the reason to give. */
	CHECK(formulas_find(&c, "CONFORT", day("2026-03-10")) == NULL);
	f = formulas_at(&c, "CONFORT", day("2026-03-10"));
	REQUIRE(f != NULL);
	CHECK(f->refused && f->version == 2);
	CHECK(!formulas_may_be_newer(&c, "CONFORT", day("2026-03-10")));
	CHECK(formulas_find(&c, "ESSENTIEL", day("2025-06-01")) == NULL);
	CHECK(formulas_at(&c, "ESSENTIEL", day("2025-06-01"))->refused);
	formulas_free(&c);
	CHECK_EQ_I64(c.refused, 0);
}

/* Periods past the engine's dates (1900 to 2199): an end of 9999-12-31
 * (data's "open") is open, a first day of year 1 the engine's first; a
 * version ending before 1900 is never in force; a period that cannot be
 * read refuses its version alone. */
static void test_periods_past_the_engines_dates(void)
{
	static const char *const rows[][7] = {
		{"OPEN", "1", "t", "0001-01-01", "9999-12-31", "CONSULT_GP", "{\"pct_brss\":150}"},
		{"OLD", "1", "t", "1700-01-01", "1800-01-01", "CONSULT_GP", "{\"pct_brss\":150}"},
		{"OLD", "2", "t", "1800-01-01", "infinity", "CONSULT_GP", "{\"pct_brss\":200}"},
		{"ODD", "1", "t", "someday", "", "CONSULT_GP", "{\"pct_brss\":100}"},
		{"ODD", "2", "t", "2020-01-01", "", "CONSULT_GP", "{\"pct_brss\":100}"},
		{"ROMAN", "1", "t", "3000-01-01 BC", "2026-01-01", "CONSULT_GP",
		 "{\"pct_brss\":1}"},
	};
	PGresult *res = versions_result(rows, 6);
	struct formula_cache c = {NULL, 0, 0, 0};
	const struct formula_version *f;

	REQUIRE(fill(&c, res) == OK);
	PQclear(res);
	CHECK_EQ_I64(c.count, 6);
	CHECK_EQ_I64(c.refused, 1);
	CHECK(formulas_find(&c, "ROMAN", day("2025-06-01")) != NULL); /* from 1900 */
	CHECK(formulas_find(&c, "ROMAN", day("2026-01-01")) == NULL);
	f = formulas_find(&c, "OPEN", day("1900-01-01"));
	CHECK(f != NULL && f == formulas_find(&c, "OPEN", day("2199-12-31")));
	CHECK(!formulas_may_be_newer(&c, "OPEN", day("2199-12-31")));
	f = formulas_find(&c, "OLD", day("2026-03-10"));
	REQUIRE(f != NULL);
	CHECK_EQ_I64(f->version, 2);
	CHECK(formulas_at(&c, "ODD", day("2019-06-01")) == NULL);
	CHECK_EQ_I64(formulas_find(&c, "ODD", day("2026-03-10"))->version, 2);
	formulas_free(&c);
}

int main(void)
{
	RUN(test_find);
	RUN(test_may_be_newer);
	RUN(test_a_version_refused_alone);
	RUN(test_periods_past_the_engines_dates);
	return test_report();
}
