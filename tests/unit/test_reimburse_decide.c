/*
 * NAME
 *	test_reimburse_decide.c - a claim, and a quote, as the reimbursement
 *	worker's batch computes them, without a database
 *
 * DESCRIPTION
 *	White-box test of reimburse_batch.c (included here) through
 *	reimburse_decide_one() and reimburse_quote_one(), on the formulas of
 *	deploy/formulas/ and the parameters of deploy/params/:
 *
 *	- a claim without claim id, birth date or lines, or whose birth date
 *	  is no date, is refused with its reason and gets no event;
 *	- any other gets its reimbursements.computed event, each line
 *	  decided or saying why not (a line that is not one, care before the
 *	  formula's first version), with the outcome and the totals;
 *	- a claim across two versions of a formula is decided under each;
 *	- a quote is answered a QuoteReply with its request id and totals;
 *	- with the recorded claim (as lock_claims() reads it), the recorded
 *	  birth date decides the age rules, and care the contract no longer
 *	  covers (ended, suspended) is NOT_COVERED, unless a professional is
 *	  paid in tiers payant;
 *	- two contracts' claims of one person in one batch share the
 *	  person's history: glasses paid under the first are not paid again
 *	  under the second (one equipment per renewal period).
 */
#include "../../services/reimburse/reimburse_batch.c"
#include "../../services/reimburse/reimburse_formulas.c"
#include "common/params.h"
#include "formula_files.h"
#include "test.h"

static struct rules_params params;
static struct reimburse_ctx ctx;

#define CLAIM_ID "0190a3c4-1d2e-7f00-8000-000000000001"

struct claim {
	Claims__ClaimAccepted a;
	Claims__ClaimLine line[3], *lines[3];
};

/* A GP consultation of 30 EUR, BRSS 30 EUR at 70 %, on `date`. */
static void gp_line(Claims__ClaimLine *l, unsigned no, const char *date)
{
	claims__claim_line__init(l);
	l->has_line_no = 1;
	l->line_no = no;
	l->category = "CONSULT_GP";
	l->care_date = (char *)date;
	l->has_charged_cents = l->has_brss_cents = l->has_amo_rate = 1;
	l->charged_cents = 3000;
	l->brss_cents = 3000;
	l->amo_rate = 70;
}

static void claim_init(struct claim *c, size_t n_lines)
{
	claims__claim_accepted__init(&c->a);
	for (size_t i = 0; i < 3; i++) {
		gp_line(&c->line[i], (unsigned)i + 1, "2025-03-10");
		c->lines[i] = &c->line[i];
	}
	c->a.claim_id = CLAIM_ID;
	c->a.has_contract_id = c->a.has_beneficiary_id = 1;
	c->a.contract_id = 12;
	c->a.beneficiary_id = 34;
	c->a.birth_date = "1980-05-01";
	c->a.membership_number = "M000123";
	c->a.lines = c->lines;
	c->a.n_lines = n_lines;
}

/* The claim decided under CONFORT: its event decoded, or NULL with the
 * item's poison set. With `recorded`, the item holds what lock_claims()
 * reads of the recorded claim (coverage, birth date, exemptions). */
static Claims__ReimbursementComputed *decide_as(struct claim *c, struct reimburse_item *item,
						const struct reimburse_item *recorded)
{
	Claims__ReimbursementComputed *r = NULL;
	struct envelope env;
	uint8_t *event;
	size_t len;
	char why[160];

	if (recorded != NULL)
		*item = *recorded;
	else
		memset(item, 0, sizeof(*item));
	item->claim = &c->a;
	snprintf(item->formula_code, sizeof(item->formula_code), "CONFORT");
	CHECK(reimburse_decide_one(&ctx, item, &event, &len) == OK);
	if (event == NULL)
		return NULL;
	CHECK(envelope_unpack(event, len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_I64(env.type, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED);
	r = claims__reimbursement_computed__unpack(NULL, env.payload_len, env.payload);
	CHECK(r != NULL);
	envelope_free(&env);
	free(event);
	return r;
}

static Claims__ReimbursementComputed *decide(struct claim *c, struct reimburse_item *item)
{
	return decide_as(c, item, NULL);
}

static void check_refused(struct claim *c, const char *reason)
{
	struct reimburse_item item;
	Claims__ReimbursementComputed *r = decide(c, &item);

	CHECK(r == NULL);
	CHECK_EQ_STR(item.poison, reason);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

static void test_incomplete_claims_are_refused(void)
{
	static const char without[] = "ClaimAccepted without claim id, birth date or lines";
	struct claim c;

	claim_init(&c, 1);
	c.a.claim_id = NULL;
	check_refused(&c, without);
	claim_init(&c, 1);
	c.a.claim_id = "0190a3c4";
	check_refused(&c, without);
	claim_init(&c, 1);
	c.a.birth_date = NULL;
	check_refused(&c, without);
	claim_init(&c, 0);
	check_refused(&c, without);
	claim_init(&c, 1);
	c.a.birth_date = "1899-12-31";
	check_refused(&c, "malformed birth date 1899-12-31");
}

/* charged = AMO paid + AMC + rest to pay, with the amounts all there. */
static void check_balanced(const Claims__LineDecision *d)
{
	CHECK(d->error == NULL);
	CHECK(d->has_charged_cents && d->has_amo_paid_cents && d->has_amc_cents &&
	      d->has_rac_cents);
	CHECK_EQ_I64(d->charged_cents, d->amo_paid_cents + d->amc_cents + d->rac_cents);
}

static void test_complete_claim(void)
{
	struct reimburse_item item;
	Claims__ReimbursementComputed *r;
	struct claim c;

	claim_init(&c, 1);
	r = decide(&c, &item);
	CHECK_EQ_STR(item.poison, "");
	REQUIRE(r != NULL);
	CHECK_EQ_STR(r->claim_id, CLAIM_ID);
	CHECK_EQ_I64(r->beneficiary_id, 34);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	REQUIRE(r->n_lines == 1);
	check_balanced(r->lines[0]);
	CHECK_EQ_I64(r->lines[0]->charged_cents, 3000);
	CHECK(r->lines[0]->amc_cents > 0);
	CHECK_EQ_I64(r->total_amc_cents, r->lines[0]->amc_cents);
	CHECK_EQ_I64(r->total_rac_cents, r->lines[0]->rac_cents);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

static void test_partial_claim(void)
{
	struct reimburse_item item;
	Claims__ReimbursementComputed *r;
	struct claim c;

	claim_init(&c, 3);
	c.line[1].category = "ASTROLOGIE";
	c.line[2].care_date = "2023-06-01"; /* CONFORT begins in 2024 */
	r = decide(&c, &item);
	CHECK_EQ_STR(item.poison, "");
	REQUIRE(r != NULL && r->n_lines == 3);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_PARTIAL);
	check_balanced(r->lines[0]);
	CHECK_EQ_STR(r->lines[1]->error, "INVALID_LINE");
	CHECK(!r->lines[1]->has_amc_cents);
	CHECK_EQ_STR(r->lines[2]->error,
		     "NO_GUARANTEE_IN_FORCE: formula CONFORT has no version on 2023-06-01");
	CHECK_EQ_I64(r->total_charged_cents, 3000);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

/* A version the worker refused (a guarantee it cannot read): the care
 * it is in force for is left undecided, and said so, not paid on the
 * version before it nor called a gap. */
static void test_version_refused(void)
{
	const struct formula_version *v;
	struct reimburse_item item;
	Claims__ReimbursementComputed *r;
	struct claim c;
	rules_date_t day;

	REQUIRE(rules_date_parse("2026-03-10", &day) == RULES_OK);
	v = formulas_find(&ctx.formulas, "CONFORT", day);
	REQUIRE(v != NULL);
	((struct formula_version *)v)->refused = 1;
	claim_init(&c, 2);
	c.line[0].care_date = "2026-03-10";
	c.line[1].care_date = "2025-06-01";
	r = decide(&c, &item);
	((struct formula_version *)v)->refused = 0;
	REQUIRE(r != NULL && r->n_lines == 2);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_PARTIAL);
	CHECK(strncmp(r->lines[0]->error, "FORMULA_REFUSED: formula CONFORT v", 34) == 0);
	CHECK(strstr(r->lines[0]->error, "in force on 2026-03-10") != NULL);
	check_balanced(r->lines[1]);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

/* CONFORT pays 150 % of the BRSS until 2025, 200 % from 2026. */
static void test_claim_across_two_versions(void)
{
	struct reimburse_item item;
	Claims__ReimbursementComputed *r;
	struct claim c;

	claim_init(&c, 2);
	gp_line(&c.line[0], 1, "2025-12-31");
	gp_line(&c.line[1], 2, "2026-01-02");
	c.line[0].charged_cents = c.line[1].charged_cents = 6000;
	r = decide(&c, &item);
	REQUIRE(r != NULL && r->n_lines == 2);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	check_balanced(r->lines[0]);
	check_balanced(r->lines[1]);
	CHECK(r->lines[1]->amc_cents > r->lines[0]->amc_cents);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

static void test_quote(void)
{
	struct reimburse_quote q;
	Claims__QuoteReply *r;
	struct envelope env;
	struct claim c;
	char why[160];

	claim_init(&c, 1);
	memset(&q, 0, sizeof(q));
	q.claim = &c.a;
	q.formula_code = "CONFORT";
	q.request_id = "req-7";
	q.valid_until = "2025-04-10";
	reimburse_quote_one(&ctx, &q);
	REQUIRE(q.reply != NULL);
	CHECK(envelope_unpack(q.reply, q.reply_len, &env, why, sizeof(why)) == OK);
	CHECK_EQ_I64(env.type, CLAIMS__MESSAGE_TYPE__QUOTE_REPLY);
	r = claims__quote_reply__unpack(NULL, env.payload_len, env.payload);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_EQ_STR(r->request_id, "req-7");
		CHECK_EQ_STR(r->quote_id, CLAIM_ID);
		CHECK_EQ_I64(r->n_lines, 1);
		CHECK_EQ_I64(r->total_amc_cents, q.totals.amc);
		CHECK(q.totals.amc > 0);
	}
	claims__quote_reply__free_unpacked(r, NULL);
	envelope_free(&env);
	free(q.reply);
}

static int32_t day(int y, int m, int d)
{
	return rules_date_to_days(rules_date_ymd(y, m, d));
}

/* As read with the claim's lock: a contract covering 2025 until 1 June,
 * a beneficiary born in 2015 (a child: no PF), though the event says
 * 1980 (the birth date corrected since the claim was accepted). */
static void recorded_child(struct reimburse_item *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->recorded = 1;
	rec->covered_from = day(2025, 1, 1);
	rec->covered_to = day(2025, 6, 1);
	rec->suspended_from = INT32_MAX;
	snprintf(rec->birth_date, sizeof(rec->birth_date), "2015-05-01");
}

static void test_recorded_beneficiary_and_coverage(void)
{
	struct reimburse_item item, rec;
	Claims__ReimbursementComputed *r;
	struct claim c;

	claim_init(&c, 3);
	c.line[1].care_date = "2025-05-10";
	c.line[2].care_date = "2025-07-10";
	recorded_child(&rec);
	r = decide_as(&c, &item, &rec);
	REQUIRE(r != NULL && r->n_lines == 3);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_PARTIAL);
	check_balanced(r->lines[0]);
	CHECK_EQ_I64(r->lines[0]->pf_cents, 0); /* the recorded birth date: a child */
	check_balanced(r->lines[1]);
	CHECK_EQ_STR(r->lines[2]->error, "NOT_COVERED: the contract no longer covers 2025-07-10"
					 " (ended or suspended since the claim was accepted)");
	claims__reimbursement_computed__free_unpacked(r, NULL);

	/* Suspended from 1 May: May's care is no longer covered either. */
	rec.suspended_from = day(2025, 5, 1);
	r = decide_as(&c, &item, &rec);
	REQUIRE(r != NULL && r->n_lines == 3);
	check_balanced(r->lines[0]);
	CHECK(r->lines[1]->error != NULL && strncmp(r->lines[1]->error, "NOT_COVERED", 11) == 0);
	CHECK(r->lines[2]->error != NULL && strncmp(r->lines[2]->error, "NOT_COVERED", 11) == 0);
	claims__reimbursement_computed__free_unpacked(r, NULL);

	/* A professional paid in tiers payant is paid all the same. */
	c.a.has_payee = 1;
	c.a.payee = CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	c.a.professional_id = "10010000015";
	r = decide_as(&c, &item, &rec);
	REQUIRE(r != NULL && r->n_lines == 3);
	CHECK_EQ_I64(r->outcome, CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	for (size_t i = 0; i < 3; i++)
		check_balanced(r->lines[i]);
	claims__reimbursement_computed__free_unpacked(r, NULL);

	/* Without the recorded claim (quotes): the event's adult pays the PF. */
	c.a.payee = CLAIMS__PAYEE__PAYEE_MEMBER;
	r = decide(&c, &item);
	REQUIRE(r != NULL && r->n_lines == 3);
	CHECK_EQ_I64(r->lines[0]->pf_cents, 200);
	claims__reimbursement_computed__free_unpacked(r, NULL);
}

/* Glasses (two lenses and a frame) on `date`. */
static void glasses_line(Claims__ClaimLine *l, const char *date)
{
	static char *lenses[] = {"simple", "complex"};

	gp_line(l, 1, date);
	l->category = "OPTIQUE_EQUIPEMENT";
	l->charged_cents = 45000;
	l->brss_cents = 15;
	l->amo_rate = 60;
	l->lenses = lenses;
	l->n_lenses = 2;
	l->has_frame_charged_cents = 1;
	l->frame_charged_cents = 15000;
}

/* Claims of contracts 12 (beneficiary 34) then 13 (beneficiary 35),
 * glasses in December then March, decided in one batch as persons p0
 * and p1: the AMC each line pushed into its person's history. */
static void decide_glasses_batch(int64_t p0, int64_t p1, int64_t amc[2])
{
	static const char *ids[2] = {"0190a3c4-1d2e-7f00-8000-000000000011",
				     "0190a3c4-1d2e-7f00-8000-000000000012"};
	static const char *dates[2] = {"2025-12-15", "2026-03-16"};
	struct history h[2];
	struct histories hs = {h, p0 == p1 ? 1 : 2};
	struct reimburse_item items[2];
	struct batch_write bw;
	struct claim c[2];

	memset(h, 0, sizeof(h));
	memset(items, 0, sizeof(items));
	memset(&bw, 0, sizeof(bw));
	for (int a = 0; a < A_COUNT; a++)
		pgarray_init(&bw.a[a]);
	h[0].person_id = p0;
	h[1].person_id = p1;
	for (int i = 0; i < 2; i++) {
		claim_init(&c[i], 1);
		glasses_line(&c[i].line[0], dates[i]);
		c[i].a.claim_id = (char *)ids[i];
		c[i].a.contract_id = 12 + i;
		c[i].a.beneficiary_id = 34 + i;
		items[i].claim = &c[i].a;
		items[i].found = items[i].queued = 1;
		items[i].person_id = i == 0 ? p0 : p1;
		snprintf(items[i].formula_code, sizeof(items[i].formula_code), "CONFORT");
	}
	CHECK(decide_all(&ctx, items, 2, &hs, &bw) == OK);
	CHECK_EQ_I64(bw.claims, 2);
	for (int i = 0; i < 2; i++) {
		struct history *of = history_of(&hs, items[i].person_id);

		REQUIRE(of != NULL && of->n >= (size_t)(p0 == p1 ? 2 : 1));
		amc[i] = of->items[p0 == p1 ? i : 0].amc_cents;
	}
	for (int a = 0; a < A_COUNT; a++)
		pgarray_free(&bw.a[a]);
	free(h[0].items);
	free(h[1].items);
}

static void test_one_person_two_contracts_in_one_batch(void)
{
	int64_t amc[2];

	/* Two persons: each pair of glasses is the first of its person. */
	decide_glasses_batch(34, 35, amc);
	CHECK(amc[0] > 0);
	CHECK(amc[1] > 0);
	/* One person with a row on each contract: March's are not due. */
	decide_glasses_batch(34, 34, amc);
	CHECK(amc[0] > 0);
	CHECK_EQ_I64(amc[1], 0);
}

int main(void)
{
	if (params_load(PARAMS_DEFAULT_PATH, &params) != OK ||
	    formula_cache_add_file(&ctx.formulas, "CONFORT") != OK) {
		printf("cannot load the parameters or deploy/formulas/CONFORT.json\n");
		return 1;
	}
	ctx.params = &params;
	RUN(test_incomplete_claims_are_refused);
	RUN(test_complete_claim);
	RUN(test_partial_claim);
	RUN(test_version_refused);
	RUN(test_claim_across_two_versions);
	RUN(test_quote);
	RUN(test_recorded_beneficiary_and_coverage);
	RUN(test_one_person_two_contracts_in_one_batch);
	formulas_free(&ctx.formulas);
	return test_report();
}
