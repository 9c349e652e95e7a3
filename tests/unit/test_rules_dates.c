/*
 * NAME
 *	test_rules_dates.c - calendar days and names of the rules engine
 *
 * DESCRIPTION
 *	Parsing and formatting of ISO days, ages on a birthday and on 29
 *	February, adding months at the end of a month, conversion from the
 *	days since 1970 of services/common; and the spelling of every
 *	category, basket, lens and rule name (stable names: audit records
 *	and docs/rules.md quote them).
 */
#include "rules/rules.h"
#include "test.h"

static void test_parse(void)
{
	static const struct {
		const char *s;
		rules_date_t want; /* 0: refused */
	} cases[] = {
		{"2026-03-10", 20260310}, {"2024-02-29", 20240229}, {"2000-02-29", 20000229},
		{"1900-01-01", 19000101}, {"2199-12-31", 21991231}, {"2026-02-29", 0},
		{"1900-02-29", 0},	  {"2026-13-01", 0},	    {"2026-00-10", 0},
		{"2026-04-31", 0},	  {"2026-1-01", 0},	    {"2026-01-1", 0},
		{"2026/01/01", 0},	  {"2026-01-01T00:00", 0},  {"", 0},
		{"20260101", 0},	  {"1899-12-31", 0},	    {"2200-01-01", 0},
		{"2026-01-0a", 0},	  {"-026-01-01", 0},
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rules_date_t d = 0;
		int rc = rules_date_parse(cases[i].s, &d);

		if (cases[i].want == 0) {
			CHECK(rc == RULES_ERR);
		} else {
			CHECK(rc == RULES_OK);
			CHECK_EQ_I64(d, cases[i].want);
		}
	}
	CHECK(rules_date_parse(NULL, &(rules_date_t){0}) == RULES_ERR);
}

static void test_format(void)
{
	char buf[11];

	rules_date_format(20260310, buf);
	CHECK_EQ_STR(buf, "2026-03-10");
	rules_date_format(19000101, buf);
	CHECK_EQ_STR(buf, "1900-01-01");
}

static void test_age(void)
{
	CHECK_EQ_I64(rules_age(19800501, 20260430), 45);
	CHECK_EQ_I64(rules_age(19800501, 20260501), 46);
	CHECK_EQ_I64(rules_age(20080310, 20260309), 17);
	CHECK_EQ_I64(rules_age(20080310, 20260310), 18);
	/* Born on 29 February: a year more on 1 March of common years. */
	CHECK_EQ_I64(rules_age(20080229, 20260228), 17);
	CHECK_EQ_I64(rules_age(20080229, 20260301), 18);
	CHECK_EQ_I64(rules_age(20080229, 20280229), 20);
	CHECK_EQ_I64(rules_age(20260310, 20260310), 0);
}

static void test_add_months(void)
{
	CHECK_EQ_I64(rules_date_add_months(20260131, 1), 20260228);
	CHECK_EQ_I64(rules_date_add_months(20240131, 1), 20240229);
	CHECK_EQ_I64(rules_date_add_months(20240229, 24), 20260228);
	CHECK_EQ_I64(rules_date_add_months(20240229, 48), 20280229);
	CHECK_EQ_I64(rules_date_add_months(20251115, 2), 20260115);
	CHECK_EQ_I64(rules_date_add_months(20251231, 12), 20261231);
	CHECK_EQ_I64(rules_date_add_months(20260310, 0), 20260310);
}

static void test_from_days(void)
{
	CHECK_EQ_I64(rules_date_from_days(0), 19700101);
	CHECK_EQ_I64(rules_date_from_days(20454), 20260101);
	CHECK_EQ_I64(rules_date_from_days(19782), 20240229);
	CHECK_EQ_I64(rules_date_from_days(-1), 19691231);
	CHECK_EQ_I64(rules_date_from_days(-25567), 19000101);
}

static void test_ymd_valid(void)
{
	CHECK_EQ_I64(rules_date_ymd(2026, 3, 10), 20260310);
	CHECK(rules_date_valid(20260310));
	CHECK(!rules_date_valid(20260230));
	CHECK(!rules_date_valid(0));
	CHECK_EQ_I64(rules_date_year(20260310), 2026);
}

static void test_category_names(void)
{
	enum rules_category c;

	for (int i = 0; i < RULES_CAT_COUNT; i++) {
		REQUIRE(rules_category_name(i) != NULL);
		CHECK(rules_category_parse(rules_category_name(i), &c) == RULES_OK);
		CHECK_EQ_I64(c, i);
	}
	CHECK(rules_category_name(RULES_CAT_COUNT) == NULL);
	CHECK(rules_category_name(-1) == NULL);
	CHECK_EQ_STR(rules_category_name(RULES_CAT_OPTIQUE_EQUIPEMENT), "OPTIQUE_EQUIPEMENT");
	CHECK(rules_category_parse("consult_gp", &c) == RULES_ERR);
	CHECK(rules_category_parse(NULL, &c) == RULES_ERR);
}

static void test_other_names(void)
{
	enum rules_basket b;
	enum rules_lens l;
	unsigned flag;

	CHECK(rules_basket_parse("100PS", &b) == RULES_OK && b == RULES_BASKET_100PS);
	CHECK(rules_basket_parse("MAITRISE", &b) == RULES_OK && b == RULES_BASKET_MAITRISE);
	CHECK(rules_basket_parse("LIBRE", &b) == RULES_OK && b == RULES_BASKET_LIBRE);
	CHECK(rules_basket_parse("", &b) == RULES_ERR);
	CHECK(rules_lens_parse("very_complex", &l) == RULES_OK && l == RULES_LENS_VERY_COMPLEX);
	CHECK(rules_lens_parse("bifocal", &l) == RULES_ERR);
	CHECK(rules_exempt_parse("C2S", &flag) == RULES_OK && flag == RULES_EXEMPT_C2S);
	CHECK(rules_exempt_parse("MATERNITY", &flag) == RULES_OK && flag == RULES_EXEMPT_MATERNITY);
	CHECK(rules_exempt_parse("ALD", &flag) == RULES_ERR);
}

/* Every rule has a distinct name; the names quoted by docs/rules.md. */
static void test_rule_names(void)
{
	static const char *const documented[] = {
		"ACT_TARIFF",
		"PF",
		"PF_DAILY_CAP",
		"PF_ANNUAL_CAP",
		"PF_EXEMPT",
		"FRANCHISE",
		"FRANCHISE_DAILY_CAP",
		"FRANCHISE_ANNUAL_CAP",
		"FRANCHISE_EXEMPT",
		"OUTSIDE_PARCOURS",
		"RENEWAL_NOT_DUE",
		"NO_GUARANTEE",
		"TM_MANDATORY",
		"GUARANTEE_PCT",
		"NON_OPTAM_PCT",
		"NON_OPTAM_CAP",
		"TM_PCT_MIN",
		"FRAIS_REELS",
		"PER_ACT_FORFAIT",
		"MAX_ACTS_REACHED",
		"EQUIPMENT_FORFAIT",
		"ANNUAL_ENVELOPE",
		"ANNUAL_ENVELOPE_USED_UP",
		"ANNUAL_CAP",
		"OPTICS_CEILING",
		"FRAME_CAP",
		"AUDIO_CEILING",
		"TM_FLOOR",
		"FJH_FULL",
		"100PS",
		"ROOM_CLAMP",
	};
	enum rules_rule r;

	CHECK_EQ_I64(sizeof documented / sizeof documented[0], RULES_R_COUNT);
	for (int i = 0; i < RULES_R_COUNT; i++) {
		REQUIRE(rules_rule_name(i) != NULL);
		CHECK_EQ_STR(rules_rule_name(i), documented[i]);
		CHECK(rules_rule_parse(documented[i], &r) == RULES_OK);
		CHECK_EQ_I64(r, i);
	}
	CHECK(rules_rule_name(RULES_R_COUNT) == NULL);
}

int main(void)
{
	RUN(test_parse);
	RUN(test_format);
	RUN(test_age);
	RUN(test_add_months);
	RUN(test_from_days);
	RUN(test_ymd_valid);
	RUN(test_category_names);
	RUN(test_other_names);
	RUN(test_rule_names);
	return test_report();
}
