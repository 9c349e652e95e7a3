/*
 * NAME
 *	test_intake_check.c - what intake refuses from the message and the
 *	beneficiary
 *
 * DESCRIPTION
 *	intake_check_static() and intake_check_coverage() on submissions
 *	built here: the AMO amount against the PF and franchises of the
 *	dated parameters and the beneficiary's exemptions (read from
 *	deploy/params/parameters.json: runs from the repository root), the
 *	amounts of a line against each other, the professional's own
 *	"tp:KIND:NUMBER" source, and the care date's "today"; and the
 *	decoding of a submission within its memory budget.
 */
#include "../../services/intake/intake_check.c"
#include "../../services/intake/intake_decode.c"
#include "../../services/intake/intake_store.c"
#include "common/params.h"
#include "engine_line.h"
#include "envelope_frame.h"
#include "test.h"

static struct rules_params params;

struct sample {
	Claims__ClaimSubmitted claim;
	Claims__ClaimLine line;
	Claims__ClaimLine *lines[1];
};

/* A GP consultation of 2026-03-10: 30 EUR, BRSS 30 EUR at 70 %. */
static void sample_init(struct sample *x)
{
	claims__claim_submitted__init(&x->claim);
	claims__claim_line__init(&x->line);
	x->line.category = "CONSULT_GP";
	x->line.care_date = "2026-03-10";
	x->line.quantity = 1;
	x->line.has_charged_cents = x->line.has_brss_cents = x->line.has_amo_rate = 1;
	x->line.charged_cents = 3000;
	x->line.brss_cents = 3000;
	x->line.amo_rate = 70;
	x->lines[0] = &x->line;
	x->claim.source = "upstream";
	x->claim.external_id = "X-1";
	x->claim.membership_number = "1000000016";
	x->claim.n_lines = 1;
	x->claim.lines = x->lines;
}

/* The reason code intake_check_static() gives ("" when it accepts). */
static const char *verdict(const struct sample *x, int32_t today, char field[64])
{
	static struct intake_outcome out;

	memset(&out, 0, sizeof(out));
	if (intake_check_static(&x->claim, today, &out) == OK) {
		field[0] = '\0';
		return "";
	}
	snprintf(field, 64, "%s", out.field);
	return out.reason_code;
}

static int32_t day(const char *text)
{
	int32_t d = 0;

	CHECK(date_parse(text, &d) == OK);
	return d;
}

static const char *amo_paid(struct sample *x, int64_t cents, char field[64])
{
	x->line.has_amo_paid_cents = 1;
	x->line.amo_paid_cents = cents;
	return verdict(x, day("2026-12-01"), field);
}

static void test_amo_withholding_from_parameters(void)
{
	struct sample x;
	char field[64];

	sample_init(&x);
	/* 2100 = 70 % of 3000: nothing withheld, or the 2 EUR PF of 2026 */
	CHECK_EQ_STR(amo_paid(&x, 2100, field), "");
	CHECK_EQ_STR(amo_paid(&x, 1900, field), "");
	CHECK_EQ_STR(amo_paid(&x, 1899, field), "AMO_INCONSISTENT");
	CHECK_EQ_STR(field, "lines[0].amo_paid_cents");
	CHECK_EQ_STR(amo_paid(&x, 2101, field), "AMO_INCONSISTENT");
	/* A dental act bears neither PF nor franchise. */
	x.line.category = "DENT_SOINS";
	CHECK_EQ_STR(amo_paid(&x, 2100, field), "");
	CHECK_EQ_STR(amo_paid(&x, 2099, field), "AMO_INCONSISTENT");
	/* Pharmacy: 1 EUR a box, up to the 50 EUR of a year. */
	x.line.category = "PHARMA";
	x.line.quantity = 3;
	CHECK_EQ_STR(amo_paid(&x, 1800, field), "");
	CHECK_EQ_STR(amo_paid(&x, 1799, field), "AMO_INCONSISTENT");
	x.line.quantity = 90;
	x.line.charged_cents = x.line.brss_cents = 100000;
	CHECK_EQ_STR(amo_paid(&x, 70000 - 5000, field), "");
	CHECK_EQ_STR(amo_paid(&x, 70000 - 5001, field), "AMO_INCONSISTENT");
	/* Paramedical acts: 1 EUR each, 4 EUR a day. */
	x.line.category = "AUXILIAIRE";
	x.line.quantity = 6;
	CHECK_EQ_STR(amo_paid(&x, 70000 - 400, field), "");
	CHECK_EQ_STR(amo_paid(&x, 70000 - 401, field), "AMO_INCONSISTENT");
	/* Before the parameters' first PF version: only the share is known. */
	x.line.category = "CONSULT_GP";
	x.line.quantity = 1;
	x.line.care_date = "2024-01-10";
	CHECK_EQ_STR(amo_paid(&x, 10000, field), "");
	CHECK_EQ_STR(amo_paid(&x, 70001, field), "AMO_INCONSISTENT");
}

/* A line's AMO amount needs what it is judged against: BRSS and rate,
 * or the act code that gives them (judged with the beneficiary). */
static void test_amo_amount_needs_its_base(void)
{
	struct sample x;
	char field[64];

	sample_init(&x);
	x.line.has_brss_cents = x.line.has_amo_rate = 0;
	CHECK_EQ_STR(amo_paid(&x, 2100, field), "MISSING_FIELD");
	CHECK_EQ_STR(field, "lines[0].brss_cents");
	x.line.has_brss_cents = 1;
	CHECK_EQ_STR(amo_paid(&x, 2100, field), "MISSING_FIELD");
	CHECK_EQ_STR(field, "lines[0].amo_rate");
	x.line.act_code = "G";
	CHECK_EQ_STR(amo_paid(&x, 2100, field), "");
	x.line.has_brss_cents = 0;
	CHECK_EQ_STR(amo_paid(&x, 9999, field), ""); /* judged with the beneficiary */
	/* Care the AMO does not pay (osteopathy): 0 needs no base. */
	x.line.act_code = NULL;
	x.line.category = "MEDECINE_DOUCE";
	CHECK_EQ_STR(amo_paid(&x, 0, field), "");
	CHECK_EQ_STR(amo_paid(&x, 1, field), "MISSING_FIELD");
}

/* The reason code intake_check_coverage() gives a beneficiary born on
 * `birth` with `exemptions` (PostgreSQL array text), covered all along. */
static const char *coverage_verdict(const struct sample *x, const char *birth,
				    const char *exemptions, char field[64])
{
	static struct intake_outcome out;
	struct coverage cov;

	memset(&cov, 0, sizeof(cov));
	cov.found = 1;
	snprintf(cov.birth_date, sizeof(cov.birth_date), "%s", birth);
	snprintf(cov.exemptions, sizeof(cov.exemptions), "%s", exemptions);
	cov.from = 0;
	cov.until = INT32_MAX;
	memset(&out, 0, sizeof(out));
	field[0] = '\0';
	if (intake_check_coverage(&x->claim, &cov, &out) == OK)
		return "";
	snprintf(field, 64, "%s", out.field);
	return out.reason_code;
}

/* A suspension refuses care from its first day on, and all care when
 * it has none; care before that day is covered. */
static void test_suspension_from_a_day(void)
{
	struct intake_outcome out;
	struct coverage cov;
	struct sample x;

	sample_init(&x); /* care on 2026-03-10 */
	memset(&cov, 0, sizeof(cov));
	cov.found = 1;
	snprintf(cov.birth_date, sizeof(cov.birth_date), "1980-05-01");
	snprintf(cov.exemptions, sizeof(cov.exemptions), "{}");
	cov.until = INT32_MAX;
	cov.suspended = 1;
	REQUIRE(date_parse("2026-03-11", &cov.suspended_from) == OK);
	memset(&out, 0, sizeof(out));
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == OK);
	REQUIRE(date_parse("2026-03-10", &cov.suspended_from) == OK);
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.reason_code, "NOT_COVERED");
	memset(&out, 0, sizeof(out));
	cov.suspended_from = INT32_MIN;
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.reason_code, "NOT_COVERED");
}

/* A birth date names the person: a date that is none is refused before
 * any query (the batch's cast would fail for all), and who it does not
 * name, or names twice, is said so. */
static void test_beneficiary_by_birth_date(void)
{
	struct intake_outcome out;
	struct coverage cov;
	struct sample x;
	char field[64];

	sample_init(&x);
	x.claim.beneficiary_birth_date = "2015-02-30";
	CHECK_EQ_STR(verdict(&x, day("2026-12-01"), field), "INVALID_FIELD");
	CHECK_EQ_STR(field, "beneficiary_birth_date");
	x.claim.beneficiary_birth_date = "2015-02-03";
	CHECK_EQ_STR(verdict(&x, day("2026-12-01"), field), "");

	memset(&cov, 0, sizeof(cov));
	memset(&out, 0, sizeof(out));
	cov.ambiguous = 1;
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.reason_code, "AMBIGUOUS_BENEFICIARY");
	CHECK_EQ_STR(out.field, "beneficiary_birth_date");
	cov.ambiguous = 0;
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.reason_code, "UNKNOWN_MEMBER");
	CHECK_EQ_STR(out.message, "no beneficiary born on 2015-02-03 under this membership number");
	x.claim.has_beneficiary_rank = 1;
	x.claim.beneficiary_rank = 3;
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.message,
		     "no beneficiary of rank 3 born on 2015-02-03 under this membership number");
	x.claim.beneficiary_birth_date = NULL;
	CHECK(intake_check_coverage(&x.claim, &cov, &out) == ERR);
	CHECK_EQ_STR(out.field, "membership_number");
}

/* A birth date the rules cannot use, in the insurer's own record (a
 * legacy placeholder): refused as the record's fault, not accepted to
 * end in error at the worker, every age rule unjudged. */
static void test_birth_date_the_rules_cannot_use(void)
{
	struct sample x;
	char field[64];

	sample_init(&x);
	CHECK_EQ_STR(coverage_verdict(&x, "1899-12-31", "{}", field), "BENEFICIARY_RECORD_INVALID");
	CHECK_EQ_STR(field, "");
	CHECK_EQ_STR(coverage_verdict(&x, "1900-01-01", "{}", field), "");
}

static void test_amo_amount_of_the_beneficiary(void)
{
	struct sample x;
	char field[64];

	sample_init(&x);
	x.line.has_amo_paid_cents = 1;
	/* An adult bears the 2 EUR PF of 2026; a child under 18 on the care
	 * date bears none: the AMO paid its whole share. */
	x.line.amo_paid_cents = 1900;
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "");
	CHECK_EQ_STR(coverage_verdict(&x, "2015-05-01", "{}", field), "AMO_INCONSISTENT");
	CHECK_EQ_STR(field, "lines[0].amo_paid_cents");
	CHECK_EQ_STR(coverage_verdict(&x, "2008-03-10", "{}", field), ""); /* 18 that day */
	CHECK_EQ_STR(coverage_verdict(&x, "2008-03-11", "{}", field), "AMO_INCONSISTENT");
	/* The row's exemptions carry no dates: one recorded since the care
	 * may not refuse the PF rightly withheld before it. */
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{C2S}", field), "");
	x.line.amo_paid_cents = 2100;
	CHECK_EQ_STR(coverage_verdict(&x, "2015-05-01", "{}", field), "");
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{C2S}", field), "");
	/* Priced from the act table, by age: G is 30 EUR, 35 under 6. */
	x.line.act_code = "G";
	x.line.has_brss_cents = x.line.has_amo_rate = 0;
	x.line.parcours = 1;
	x.line.amo_paid_cents = 1900;
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "");
	x.line.amo_paid_cents = 1899;
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "AMO_INCONSISTENT");
	x.line.amo_paid_cents = 2450; /* 70 % of 35 EUR */
	CHECK_EQ_STR(coverage_verdict(&x, "2022-05-01", "{}", field), "");
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "AMO_INCONSISTENT");
	x.line.parcours = 0; /* 30 % outside the parcours */
	x.line.amo_paid_cents = 900;
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "");
	/* An act the table does not know: refused, as the engine would. */
	x.line.act_code = "NOPE";
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "INVALID_FIELD");
	CHECK_EQ_STR(field, "lines[0].act_code");
	/* Three nurse acts priced by the table: 3 x 3.15 EUR at 60 %, less
	 * three 1 EUR franchises, is what the AMO paid. */
	x.line.category = "AUXILIAIRE";
	x.line.act_code = "AMI";
	x.line.quantity = 3;
	x.line.charged_cents = 945;
	x.line.amo_paid_cents = 267;
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "");
	x.line.amo_paid_cents = 568; /* above the three acts' share */
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "AMO_INCONSISTENT");
	CHECK_EQ_I64(engine_computes_line(&params, &x.line, "1980-05-01"), 1);
}

/* Care on a day no parameters are in force (before the first PF of the
 * parameters): the engine cannot compute it, so intake does not accept
 * it. */
static void test_care_without_parameters(void)
{
	struct sample x;
	char field[64];

	sample_init(&x);
	x.line.care_date = "2024-05-14";
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "INVALID_FIELD");
	CHECK_EQ_STR(field, "lines[0].care_date");
	CHECK_EQ_I64(engine_computes_line(&params, &x.line, "1980-05-01"), 0);
	x.line.care_date = "2024-05-15";
	CHECK_EQ_STR(coverage_verdict(&x, "1980-05-01", "{}", field), "");
	CHECK_EQ_I64(engine_computes_line(&params, &x.line, "1980-05-01"), 1);
}

static void test_amounts_against_each_other(void)
{
	struct sample x;
	char field[64];
	int32_t today = day("2026-12-01");

	sample_init(&x);
	x.line.charged_cents = 2100; /* the AMO share itself: nothing left, fine */
	CHECK_EQ_STR(verdict(&x, today, field), "");
	x.line.charged_cents = 2099;
	CHECK_EQ_STR(verdict(&x, today, field), "AMOUNT_OUT_OF_RANGE");
	CHECK_EQ_STR(field, "lines[0].charged_cents");
	x.line.has_amo_rate = 0; /* the rate from the act table: not judged here */
	CHECK_EQ_STR(verdict(&x, today, field), "");

	sample_init(&x);
	x.line.category = "DENT_PROTHESE";
	x.line.basket = "100PS";
	x.line.has_price_limit_cents = 1;
	x.line.price_limit_cents = 2999;
	CHECK_EQ_STR(verdict(&x, today, field), "AMOUNT_OUT_OF_RANGE");
	CHECK_EQ_STR(field, "lines[0].price_limit_cents");
	x.line.price_limit_cents = 3000;
	CHECK_EQ_STR(verdict(&x, today, field), "");
	/* Any basket: the engine refuses a price limit below the BRSS. */
	x.line.basket = "MAITRISE";
	x.line.price_limit_cents = 2999;
	CHECK_EQ_STR(verdict(&x, today, field), "AMOUNT_OUT_OF_RANGE");
	CHECK_EQ_STR(field, "lines[0].price_limit_cents");
	x.line.basket = "LIBRE";
	CHECK_EQ_STR(verdict(&x, today, field), "AMOUNT_OUT_OF_RANGE");
	x.line.price_limit_cents = 3000;
	CHECK_EQ_STR(verdict(&x, today, field), "");

	sample_init(&x);
	x.line.category = "OPTIQUE_EQUIPEMENT";
	x.line.n_lenses = 2;
	x.line.lenses = (char *[]){"simple", "simple"};
	x.line.has_frame_charged_cents = 1;
	x.line.frame_charged_cents = 3001;
	CHECK_EQ_STR(verdict(&x, today, field), "AMOUNT_OUT_OF_RANGE");
	CHECK_EQ_STR(field, "lines[0].frame_charged_cents");
	x.line.frame_charged_cents = 3000;
	CHECK_EQ_STR(verdict(&x, today, field), "");
}

/* An empty basket or register is as if left out (protocol.md), as the
 * digest has it: a proto2 sender giving "" sends the claim of one that
 * leaves them out, accepted alike. */
static void test_empty_texts_are_absent(void)
{
	struct sample x;
	char field[64];
	int32_t today = day("2026-12-01");

	sample_init(&x);
	x.line.basket = "";
	CHECK_EQ_STR(verdict(&x, today, field), "");
	x.claim.professional_kind = "";
	CHECK_EQ_STR(verdict(&x, today, field), "");
	x.claim.professional_id = "10101010101";
	CHECK_EQ_STR(verdict(&x, today, field), "");
	/* Never the register of a professional's own source. */
	x.claim.source = "tp::10101010101";
	x.claim.has_payee = 1;
	x.claim.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	CHECK(intake_tp_source_mismatch(&x.claim));
	CHECK_EQ_STR(verdict(&x, today, field), "INVALID_FIELD");
	CHECK_EQ_STR(field, "source");
}

static void test_tp_source_is_the_professionals(void)
{
	struct sample x;
	char field[64];
	int32_t today = day("2026-12-01");

	sample_init(&x);
	x.claim.source = "tp:RPPS:10101010101";
	CHECK_EQ_STR(verdict(&x, today, field), "INVALID_FIELD");
	CHECK_EQ_STR(field, "source");
	x.claim.professional_kind = "RPPS";
	x.claim.professional_id = "10101010101";
	CHECK_EQ_STR(verdict(&x, today, field), "INVALID_FIELD"); /* the member paid */
	x.claim.has_payee = 1;
	x.claim.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	CHECK_EQ_STR(verdict(&x, today, field), "");
	x.claim.professional_id = "10101010102"; /* another's namespace */
	CHECK_EQ_STR(verdict(&x, today, field), "INVALID_FIELD");
	x.claim.professional_kind = "ADELI";
	x.claim.professional_id = "10101010101";
	CHECK_EQ_STR(verdict(&x, today, field), "INVALID_FIELD");
	x.claim.source = "tpx"; /* only the "tp:" prefix is the professionals' */
	CHECK_EQ_STR(verdict(&x, today, field), "");
	CHECK(!intake_tp_source_mismatch(&x.claim));
}

static void test_future_is_everywhere_later(void)
{
	const int64_t h = 3600LL * 1000000;
	int64_t midnight = (int64_t)day("2026-12-03") * 24 * h; /* 2026-12-03T00:00Z */
	struct intake_item item;
	struct sample x;
	char text[DATE_STR_LEN];

	/* The date at UTC+4 (Réunion): the next day from 20:00 UTC. At
	 * noon UTC, tomorrow in Paris is in the future. */
	CHECK_EQ_I64(date_anywhere_at(midnight + 12 * h), day("2026-12-03"));
	CHECK_EQ_I64(date_anywhere_at(midnight + 20 * h - 1), day("2026-12-03"));
	CHECK_EQ_I64(date_anywhere_at(midnight + 20 * h), day("2026-12-04"));
	CHECK_EQ_I64(date_anywhere_at(midnight + 24 * h - 1), day("2026-12-04"));
	/* Paris at 00:30 on 4 December (23:30 UTC the day before): today. */
	CHECK_EQ_I64(date_anywhere_at(midnight + 23 * h + h / 2), day("2026-12-04"));
	/* What intake's batch takes for today (run after 20:00 UTC, a day
	 * that is tomorrow in UTC is still accepted). */
	sample_init(&x);
	date_format(date_today_anywhere(), text);
	x.line.care_date = text;
	memset(&item, 0, sizeof(item));
	item.s = &x.claim;
	decide_static(&item, 1);
	CHECK_EQ_STR(item.out.reason_code, "");
	date_format(date_today_anywhere() + 1, text);
	decide_static(&item, 1);
	CHECK_EQ_STR(item.out.reason_code, "FUTURE_DATE");
}

/* Repeats inside a batch, found by sorting: by key, or without a key by
 * message id; each points at its first copy; answered items stay so. */
static void test_repeats_in_a_batch(void)
{
	Claims__ClaimSubmitted s[7];
	struct intake_item items[7];
	const char *src[7] = {"up", "up", "up", NULL, NULL, NULL, "up"};
	const char *ext[7] = {"B", "A", "A", NULL, NULL, NULL, "A"};
	const char *msg[7] = {"m1", "m2", "m3", "m4", "m4", "m5", "m6"};

	memset(items, 0, sizeof(items));
	for (int i = 0; i < 7; i++) {
		claims__claim_submitted__init(&s[i]);
		s[i].source = (char *)src[i];
		s[i].external_id = (char *)ext[i];
		items[i].s = &s[i];
		items[i].message_id = msg[i];
		items[i].state = i == 3 || i == 4 || i == 5 ? REJECT : PENDING;
		items[i].repeat_of = -1;
	}
	/* An answered item is no first copy: the next of its key is. */
	items[1].state = ANSWERED;
	mark_repeats(items, 7);
	CHECK_EQ_I64(items[0].state, PENDING);
	CHECK_EQ_I64(items[1].state, ANSWERED);
	CHECK_EQ_I64(items[2].state, PENDING);
	CHECK_EQ_I64(items[3].state, REJECT);
	CHECK_EQ_I64(items[4].state, REPEAT);
	CHECK_EQ_I64(items[4].repeat_of, 3);
	CHECK_EQ_I64(items[5].state, REJECT);
	CHECK_EQ_I64(items[6].state, REPEAT);
	CHECK_EQ_I64(items[6].repeat_of, 2);
}

/* The copies after one refused QUOTE_UNKNOWN, nothing recorded under
 * their key: no repeat of an answer (none was kept), nor a key reused
 * for other content; each kept as the first, to be sent again. */
static void test_repeats_of_an_unrecorded_refusal(void)
{
	Claims__ClaimSubmitted s = CLAIMS__CLAIM_SUBMITTED__INIT;
	struct intake_item items[3];

	memset(items, 0, sizeof(items));
	s.source = "tp:RPPS:10101010101";
	s.external_id = "INV-1";
	for (int i = 0; i < 3; i++) {
		items[i].s = &s;
		items[i].state = REPEAT;
		items[i].repeat_of = 0;
		snprintf(items[i].digest, sizeof(items[i].digest), "%s", i == 2 ? "bb" : "aa");
	}
	items[0].state = UNRECORDED;
	intake_reject(&items[0].out, "QUOTE_UNKNOWN", "quote_id", "no stored quote");
	items[0].out.unrecorded = 1;
	copy_repeats(items, 3);
	for (int i = 1; i < 3; i++) {
		CHECK_EQ_I64(items[i].state, UNRECORDED);
		CHECK(items[i].out.unrecorded);
		CHECK(!items[i].out.duplicate && !items[i].out.content_differs);
		CHECK_EQ_STR(items[i].out.reason_code, "QUOTE_UNKNOWN");
	}
	CHECK_EQ_STR(items[1].out.message, "no stored quote");
	CHECK(strncmp(items[2].out.message, "not judged", 10) == 0);
}

/* A line as a sender may write it, what intake answers, and whether
 * the worker's engine computes it: intake accepts exactly the lines the
 * engine computes, so that no accepted claim ends in error. */
struct engine_case {
	const char *name, *category, *act;
	int base; /* BRSS and rate given */
	int64_t charged, brss;
	int rate;
	const char *basket;
	int64_t price_limit, frame; /* -1: not given */
	int lenses;		    /* 0, or 2 simple lenses */
	const char *want_code, *want_field;
};

static const struct engine_case engine_cases[] = {
	{"a consultation", "CONSULT_GP", NULL, 1, 3000, 3000, 70, NULL, -1, -1, 0, "", ""},
	{"glasses without lenses", "OPTIQUE_EQUIPEMENT", NULL, 1, 30000, 5, 60, NULL, -1, -1, 0,
	 "MISSING_FIELD", "lines[0].lenses"},
	{"glasses with lenses", "OPTIQUE_EQUIPEMENT", NULL, 1, 30000, 5, 60, NULL, -1, 8000, 2, "",
	 ""},
	{"MAITRISE on a consultation", "CONSULT_GP", NULL, 1, 3000, 3000, 70, "MAITRISE", -1, -1, 0,
	 "INVALID_FIELD", "lines[0].basket"},
	{"lenses outside optics", "CONSULT_GP", NULL, 1, 3000, 3000, 70, NULL, -1, -1, 2,
	 "INVALID_FIELD", "lines[0].lenses"},
	{"a frame outside optics", "CONSULT_GP", NULL, 1, 3000, 3000, 70, NULL, -1, 100, 0,
	 "INVALID_FIELD", "lines[0].frame_charged_cents"},
	{"a price limit without a basket", "DENT_PROTHESE", NULL, 1, 40000, 12000, 60, NULL, 50000,
	 -1, 0, "INVALID_FIELD", "lines[0].price_limit_cents"},
	{"an empty act code is none", "CONSULT_GP", "", 1, 3000, 3000, 70, NULL, -1, -1, 0, "", ""},
	{"an act code of 16 bytes", "CONSULT_GP", "ABCDEFGHIJKLMNOP", 1, 3000, 3000, 70, NULL, -1,
	 -1, 0, "INVALID_FIELD", "lines[0].act_code"},
	{"G charged below its tariff's AMO share", "CONSULT_GP", "G", 0, 1000, 0, 0, NULL, -1, -1,
	 0, "AMOUNT_OUT_OF_RANGE", "lines[0].charged_cents"},
	{"an act of another category", "CONSULT_GP", "HBLD038", 0, 30000, 0, 0, NULL, -1, -1, 0,
	 "INVALID_FIELD", "lines[0].act_code"},
	{"a 100PS crown priced by its act", "DENT_PROTHESE", "HBLD038", 0, 29000, 0, 0, "100PS", -1,
	 -1, 0, "", ""},
	{"a 100PS crown without act or limit", "DENT_PROTHESE", NULL, 1, 29000, 12000, 60, "100PS",
	 -1, -1, 0, "MISSING_FIELD", "lines[0].price_limit_cents"},
	{"an unknown act that must price", "CONSULT_GP", "NOPE", 0, 3000, 0, 0, NULL, -1, -1, 0,
	 "INVALID_FIELD", "lines[0].act_code"},
	{"an unknown act with its base given", "CONSULT_GP", "NOPE", 1, 3000, 3000, 70, NULL, -1,
	 -1, 0, "", ""},
};

/* intake's answer to the case: static checks, then coverage for an
 * adult covered all along. */
static const char *intake_verdict(struct sample *x, char field[64])
{
	const char *code = verdict(x, day("2026-12-01"), field);

	return code[0] != '\0' ? code : coverage_verdict(x, "1980-05-01", "{}", field);
}

static void test_intake_accepts_what_the_engine_computes(void)
{
	static char *two_lenses[] = {"simple", "simple"};

	for (size_t i = 0; i < sizeof(engine_cases) / sizeof(engine_cases[0]); i++) {
		const struct engine_case *c = &engine_cases[i];
		struct sample x;
		char field[64];
		const char *code;

		sample_init(&x);
		x.line.category = (char *)c->category;
		x.line.act_code = (char *)c->act;
		x.line.has_brss_cents = x.line.has_amo_rate = c->base;
		x.line.charged_cents = c->charged;
		x.line.brss_cents = c->brss;
		x.line.amo_rate = (uint32_t)c->rate;
		x.line.basket = (char *)c->basket;
		x.line.has_price_limit_cents = c->price_limit >= 0;
		x.line.price_limit_cents = c->price_limit;
		x.line.has_frame_charged_cents = c->frame >= 0;
		x.line.frame_charged_cents = c->frame >= 0 ? c->frame : 0;
		x.line.n_lenses = (size_t)c->lenses;
		x.line.lenses = c->lenses ? two_lenses : NULL;
		code = intake_verdict(&x, field);
		if (strcmp(code, c->want_code) != 0 || strcmp(field, c->want_field) != 0)
			printf("  %s: %s %s\n", c->name, code, field);
		CHECK_EQ_STR(code, c->want_code);
		CHECK_EQ_STR(field, c->want_field);
		CHECK_EQ_I64(code[0] == '\0', engine_computes_line(&params, &x.line, "1980-05-01"));
	}
	/* Care before the beneficiary's birth (the engine refuses it). */
	{
		struct sample x;
		char field[64];

		sample_init(&x);
		CHECK_EQ_STR(coverage_verdict(&x, "2026-04-01", "{}", field), "INVALID_FIELD");
		CHECK_EQ_STR(field, "lines[0].care_date");
		CHECK_EQ_STR(coverage_verdict(&x, "2026-03-10", "{}", field), "");
	}
}

/* One claim, written by two encoders: the same digest. */
static void test_digest_of_what_the_claim_says(void)
{
	char plain[65], other[65];
	struct sample x;
	uint8_t *wire;
	size_t len;
	Claims__ClaimSubmitted *newer;

	sample_init(&x);
	submission_digest(&x.claim, plain);
	/* Defaults given rather than left out. */
	x.line.has_quantity = x.line.has_optam = x.line.has_parcours = 1;
	x.line.optam = x.line.parcours = 1;
	x.claim.has_payee = x.claim.has_source_kind = 1;
	x.claim.payee = CLAIMS__PAYEE__PAYEE_MEMBER;
	x.claim.source_kind = CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_UNKNOWN;
	submission_digest(&x.claim, other);
	CHECK_EQ_STR(other, plain);
	/* A field of a newer release (99, varint 1) this one does not know. */
	len = claims__claim_submitted__get_packed_size(&x.claim);
	wire = xmalloc(len + 3);
	claims__claim_submitted__pack(&x.claim, wire);
	memcpy(wire + len, "\x98\x06\x01", 3);
	newer = claims__claim_submitted__unpack(NULL, len + 3, wire);
	REQUIRE(newer != NULL);
	CHECK_EQ_I64(newer->base.n_unknown_fields, 1);
	submission_digest(newer, other);
	CHECK_EQ_STR(other, plain);
	claims__claim_submitted__free_unpacked(newer, NULL);
	free(wire);
	/* What the claim says, changed: another digest. */
	x.line.quantity = 2;
	submission_digest(&x.claim, other);
	CHECK(strcmp(other, plain) != 0);
	x.line.quantity = 1;
	x.line.optam = 0;
	submission_digest(&x.claim, other);
	CHECK(strcmp(other, plain) != 0);
	x.line.optam = 1;
	x.claim.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	submission_digest(&x.claim, other);
	CHECK(strcmp(other, plain) != 0);
	/* An empty text, or the rank 0, is as if left out (protocol.md): a
	 * sender giving them and one leaving them out send one claim. */
	sample_init(&x);
	submission_digest(&x.claim, plain);
	x.claim.has_beneficiary_rank = 1;
	x.claim.beneficiary_rank = 0;
	x.claim.professional_id = x.claim.quote_id = x.claim.beneficiary_birth_date = "";
	x.line.line_ref = x.line.act_code = "";
	submission_digest(&x.claim, other);
	CHECK_EQ_STR(other, plain);
	x.claim.beneficiary_rank = 1;
	submission_digest(&x.claim, other);
	CHECK(strcmp(other, plain) != 0);
	/* A BRSS of 0 given is not one left out (the act table's). */
	sample_init(&x);
	x.line.brss_cents = 0;
	submission_digest(&x.claim, plain);
	x.line.has_brss_cents = 0;
	submission_digest(&x.claim, other);
	CHECK(strcmp(other, plain) != 0);
}

static void test_decode_within_a_budget(void)
{
	static char line_ref[65], act[RULES_ACT_CODE_MAX], text[129];
	Claims__ClaimLine lines[INTAKE_MAX_LINES], *line_of[INTAKE_MAX_LINES];
	char *lenses[2] = {"very_complex", "very_complex"};
	Claims__ClaimSubmitted largest = CLAIMS__CLAIM_SUBMITTED__INIT, *claim;
	struct pb_budget budget;
	struct envelope env;
	size_t n = 1000000, len;
	uint8_t *payload = xmalloc(n), *frame;
	char why[200];

	/* 1 MB of empty lines (2 bytes each: field 8, length 0), some 500,000
	 * ClaimLines of 200 bytes once decoded: refused at the budget, not
	 * held, and nothing left held. */
	for (size_t i = 0; i + 1 < n; i += 2) {
		payload[i] = 0x42;
		payload[i + 1] = 0;
	}
	frame = envelope_frame(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, payload, n, &len);
	REQUIRE(len <= ENVELOPE_MAX_BYTES);
	REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) == OK);
	CHECK(intake_decode_claim(&budget, &env, &claim, why, sizeof(why)) == ERR);
	CHECK(claim == NULL);
	CHECK(strstr(why, "taking more than") != NULL);
	CHECK(budget.exceeded);
	CHECK(budget.peak <= PB_DECODED_MAX);
	envelope_free(&env);
	CHECK_EQ_I64(budget.used, 0);
	free(frame);
	free(payload);
	/* Bytes that are no ClaimSubmitted say so. */
	frame = envelope_frame(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, (const uint8_t *)"\xff\xff",
			       2, &len);
	REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) == OK);
	CHECK(intake_decode_claim(&budget, &env, &claim, why, sizeof(why)) == ERR);
	CHECK_EQ_STR(why, "not a protobuf ClaimSubmitted");
	envelope_free(&env);
	free(frame);
	/* An external id "X-1\0a": refused whole, not taken for "X-1" (the
	 * key of another submission). */
	{
		struct sample x;
		uint8_t *at;

		sample_init(&x);
		x.claim.external_id = "X-1Za";
		n = claims__claim_submitted__get_packed_size(&x.claim);
		payload = xmalloc(n);
		claims__claim_submitted__pack(&x.claim, payload);
		at = memchr(payload, 'Z', n);
		REQUIRE(at != NULL);
		*at = '\0';
		frame = envelope_frame(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, payload, n, &len);
		REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) ==
			OK);
		CHECK(intake_decode_claim(&budget, &env, &claim, why, sizeof(why)) == ERR);
		CHECK(claim == NULL);
		CHECK_EQ_STR(why, "ClaimSubmitted: text field external_id holds a NUL byte");
		envelope_free(&env);
		CHECK_EQ_I64(budget.used, 0);
		free(frame);
		free(payload);
	}
	/* The largest claim the checks let through, every text at its
	 * longest, 99 lines of every field: decoded within its budget. */
	memset(line_ref, 'r', sizeof(line_ref) - 1);
	memset(act, 'A', sizeof(act) - 1);
	memset(text, 'x', sizeof(text) - 1);
	for (int i = 0; i < INTAKE_MAX_LINES; i++) {
		claims__claim_line__init(&lines[i]);
		lines[i].line_ref = line_ref;
		lines[i].act_code = act;
		lines[i].category = "OPTIQUE_EQUIPEMENT";
		lines[i].care_date = "2026-03-10";
		lines[i].basket = "MAITRISE";
		lines[i].n_lenses = 2;
		lines[i].lenses = lenses;
		lines[i].has_quantity = lines[i].has_charged_cents = lines[i].has_brss_cents = 1;
		lines[i].has_amo_rate = lines[i].has_amo_paid_cents = lines[i].has_optam = 1;
		lines[i].has_parcours = lines[i].has_price_limit_cents = 1;
		lines[i].has_frame_charged_cents = lines[i].has_line_no = 1;
		line_of[i] = &lines[i];
	}
	largest.source = text + 64;
	largest.external_id = text;
	largest.membership_number = text + 96;
	largest.professional_id = text + 112;
	largest.quote_id = text + 64;
	largest.professional_kind = "FINESS";
	largest.beneficiary_birth_date = "1980-01-01";
	largest.n_lines = INTAKE_MAX_LINES;
	largest.lines = line_of;
	n = claims__claim_submitted__get_packed_size(&largest);
	payload = xmalloc(n);
	claims__claim_submitted__pack(&largest, payload);
	frame = envelope_frame(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, payload, n, &len);
	REQUIRE(envelope_unpack_budgeted(&budget, frame, len, &env, why, sizeof(why)) == OK);
	REQUIRE(intake_decode_claim(&budget, &env, &claim, why, sizeof(why)) == OK);
	CHECK_EQ_I64(claim->n_lines, INTAKE_MAX_LINES);
	CHECK(budget.peak < budget.limit / 2); /* with room */
	claims__claim_submitted__free_unpacked(claim, &budget.allocator);
	envelope_free(&env);
	CHECK_EQ_I64(budget.used, 0);
	free(frame);
	free(payload);
}

static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
	intake_check_use_params(&params);
}

int main(void)
{
	RUN(load_params);
	RUN(test_amo_withholding_from_parameters);
	RUN(test_amo_amount_needs_its_base);
	RUN(test_amo_amount_of_the_beneficiary);
	RUN(test_birth_date_the_rules_cannot_use);
	RUN(test_care_without_parameters);
	RUN(test_suspension_from_a_day);
	RUN(test_beneficiary_by_birth_date);
	RUN(test_amounts_against_each_other);
	RUN(test_empty_texts_are_absent);
	RUN(test_tp_source_is_the_professionals);
	RUN(test_future_is_everywhere_later);
	RUN(test_repeats_in_a_batch);
	RUN(test_repeats_of_an_unrecorded_refusal);
	RUN(test_intake_accepts_what_the_engine_computes);
	RUN(test_digest_of_what_the_claim_says);
	RUN(test_decode_within_a_budget);
	return test_report();
}
