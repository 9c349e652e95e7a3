/*
 * NAME
 *	test_reimburse_formulas.c - which formula version a claim line gets,
 *	and when a worker should read the versions again
 *
 * DESCRIPTION
 *	White-box test of reimburse_formulas.c (included here): a cache built
 *	in memory, no database.
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

int main(void)
{
	RUN(test_find);
	RUN(test_may_be_newer);
	return test_report();
}
