/*
 * NAME
 *	fuzz_reimburse.c - libFuzzer target of what the reimbursement worker
 *	does with a claim or a quote request once it has decoded it
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_reimburse   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	The worker's code is compiled in (run.sh links services/common and
 *	services/rules only) and driven past its queries: the parameters of
 *	deploy/params/ and the formulas of deploy/formulas/ stand for what
 *	it reads from files and PostgreSQL, a beneficiary has no counters
 *	yet. The first byte picks what the rest is (its value modulo 4) and
 *	a formula (its quarter modulo 5: CONFORT, ESSENTIEL, LIBERTE,
 *	PREMIUM, or one with no version):
 *
 *	0  a ClaimAccepted, the payload of claims.accepted, under the
 *	   formula: the parameters of the batch's history query
 *	   (first_year(), care_days()), then the claim decided by
 *	   reimburse_decide_one(), the batch's own checks and computation. A claim without claim id, birth date or lines, or
 *	   with a birth date that is no date, is refused with a reason and
 *	   no event; any other gets its reimbursements.computed event, in
 *	   which every line is decided by the engine or says why not (a line
 *	   that is not one, no version of the formula on its date, the
 *	   engine's refusal), each decided line balances (charged = AMO paid
 *	   + AMC + rest to pay), the totals are the decided lines' sums and
 *	   the outcome says how many were decided.
 *	1  a QuoteCompute, put in an Envelope(QUOTE_COMPUTE) as the front
 *	   door sends it;
 *	2  a whole request body, envelope and payload;
 *	3  a ClaimAccepted, the claim of a QuoteCompute for the formula
 *	   whose other fields are complete, so that most inputs are quotes
 *	   to compute.
 *	   Each is read as the quote thread reads a request
 *	   (read_request()): it is refused BAD_REQUEST, keeping no
 *	   QuoteCompute and left out of the quotes the batch computes
 *	   (quotes_to_compute()), and answered an ErrorReply with its
 *	   request id; or it is complete (well_formed()), computed with its
 *	   claim (reimburse_quote_one()) and answered a QuoteReply whose
 *	   lines hold as a claim's do.
 *	Everything is freed: a leak is a crash (LeakSanitizer). A broken
 *	check executes __builtin_trap(); the input is left in build-fuzz/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/params.h"

/*
 * The worker's files, not its main() (services/reimburse/reimburse.c):
 * the batch, its formula cache and the quote thread, whose static
 * functions the target calls as the daemon does.
 */
#include "../../services/reimburse/reimburse_batch.c"
#include "../../services/reimburse/reimburse_formulas.c"
#include "../../services/reimburse/reimburse_quote.c"
#include "../formula_files.h"
#include "../reimburse_quote_job.h"

#include "fuzz_target.h"

static const char *const formula_codes[] = {"CONFORT", "ESSENTIEL", "LIBERTE", "PREMIUM"};
#define N_FORMULAS (sizeof(formula_codes) / sizeof(formula_codes[0]))

static struct rules_params params;
static struct reimburse_ctx ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* run.sh runs from the repository root. */
	if (params_load(PARAMS_DEFAULT_PATH, &params) != OK) {
		fprintf(stderr, "fuzz_reimburse: cannot load %s\n", PARAMS_DEFAULT_PATH);
		abort();
	}
	ctx.params = &params;
	for (size_t i = 0; i < N_FORMULAS; i++)
		if (formula_cache_add_file(&ctx.formulas, formula_codes[i]) != OK)
			abort();
	return 0;
}

/* ---- line decisions, of a claim's event or of a quote's reply ---------------------------- */

static int same_text(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

struct sums {
	int64_t charged, amo_paid, amc, rac;
	size_t decided;
};

/* d is the decision of line l of a claim under formula `code`. */
static void check_line(const Claims__ClaimLine *l, const char *code, const Claims__LineDecision *d,
		       struct sums *s)
{
	struct rules_line line;
	int translated = claim_line_to_rules(l, &line) == OK;
	int in_force = translated && formulas_find(&ctx.formulas, code, line.date) != NULL;

	CHECK(d->has_line_no && d->line_no == l->line_no);
	CHECK(same_text(d->line_ref, l->line_ref));
	if (d->error != NULL) {
		CHECK(!d->has_charged_cents && !d->has_amo_paid_cents && !d->has_amc_cents &&
		      !d->has_rac_cents && d->n_rules == 0);
		/* The reason is the one of the first step that failed. */
		if (!translated)
			CHECK(strcmp(d->error, "INVALID_LINE") == 0);
		else if (!in_force)
			CHECK(starts(d->error, "NO_GUARANTEE_IN_FORCE: "));
		else
			CHECK(starts(d->error, "ENGINE_REFUSED: ") && strlen(d->error) > 16);
		return;
	}
	CHECK(translated && in_force);
	CHECK(d->has_charged_cents && d->has_amo_gross_cents && d->has_pf_cents &&
	      d->has_franchise_cents && d->has_amo_paid_cents && d->has_amc_cents &&
	      d->has_forfait_cents && d->has_rac_cents);
	CHECK(d->n_rules <= RULES_TRACE_MAX);
	CHECK(d->amc_cents >= 0);
	CHECK(d->charged_cents == d->amo_paid_cents + d->amc_cents + d->rac_cents);
	s->charged += d->charged_cents;
	s->amo_paid += d->amo_paid_cents;
	s->amc += d->amc_cents;
	s->rac += d->rac_cents;
	s->decided++;
}

static void check_lines(const Claims__ClaimAccepted *a, const char *code,
			Claims__LineDecision *const *lines, size_t n, struct sums *s)
{
	memset(s, 0, sizeof(*s));
	CHECK(n == a->n_lines);
	for (size_t i = 0; i < n; i++)
		check_line(a->lines[i], code, lines[i], s);
}

/* ---- 0: a claim -------------------------------------------------------------------------- */

/* What the batch asks PostgreSQL for the claim's history: from the first
 * year of its care, and the days of its care, so that no line computes
 * without the consumption of its year and its day. */
static void check_history_query(struct reimburse_item *item)
{
	const Claims__ClaimAccepted *a = item->claim;
	struct pgarray who, days;
	char start[32];
	rules_date_t d;
	int first, dated = 0;

	item->queued = 1;
	first = first_year(item, 1);
	/* A date PostgreSQL reads ($2::date); a line that is no date may
	 * lower it (more history read, none missed), never raise it. */
	CHECK(first >= RULES_MIN_YEAR && first <= 9998);
	CHECK(snprintf(start, sizeof(start), "%04d-01-01", first % 10000) == 10);
	for (size_t k = 0; k < a->n_lines; k++)
		if (rules_date_parse(a->lines[k]->care_date, &d) == RULES_OK) {
			CHECK(rules_date_year(d) >= first);
			dated++;
		}
	pgarray_init(&who);
	pgarray_init(&days);
	care_days(item, 1, &who, &days);
	CHECK(who.count == dated && days.count == dated);
	pgarray_free(&who);
	pgarray_free(&days);
	item->queued = 0;
}

static void check_event(const Claims__ClaimAccepted *a, const char *code, const uint8_t *event,
			size_t len)
{
	Claims__ReimbursementComputed *r;
	struct envelope env;
	struct sums s;
	char why[160];

	CHECK(envelope_unpack(event, len, &env, why, sizeof(why)) == OK);
	CHECK(env.type == CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED);
	r = claims__reimbursement_computed__unpack(NULL, env.payload_len, env.payload);
	CHECK(r != NULL);
	CHECK(same_text(r->claim_id, a->claim_id));
	CHECK(r->contract_id == a->contract_id && r->beneficiary_id == a->beneficiary_id);
	check_lines(a, code, r->lines, r->n_lines, &s);
	CHECK(r->has_outcome);
	CHECK(r->outcome == (s.decided == r->n_lines ? CLAIMS__OUTCOME__OUTCOME_COMPLETE
			     : s.decided > 0	     ? CLAIMS__OUTCOME__OUTCOME_PARTIAL
						     : CLAIMS__OUTCOME__OUTCOME_ERROR));
	CHECK(r->total_charged_cents == s.charged && r->total_amo_paid_cents == s.amo_paid &&
	      r->total_amc_cents == s.amc && r->total_rac_cents == s.rac);
	claims__reimbursement_computed__free_unpacked(r, NULL);
	envelope_free(&env);
}

static void fuzz_claim(const uint8_t *data, size_t size, const char *code)
{
	Claims__ClaimAccepted *a = claims__claim_accepted__unpack(NULL, size, data);
	struct reimburse_item item;
	rules_date_t birth;
	uint8_t *event;
	size_t len;
	int complete;

	if (a == NULL)
		return;
	memset(&item, 0, sizeof(item));
	item.claim = a;
	snprintf(item.formula_code, sizeof(item.formula_code), "%s", code);
	/* What reimburse_batch() requires, written apart from it. */
	complete = a->claim_id != NULL && uuid_valid(a->claim_id) && a->birth_date != NULL &&
		   a->n_lines > 0;
	if (complete)
		check_history_query(&item);
	CHECK(reimburse_decide_one(&ctx, &item, &event, &len) == OK);
	if (!complete) {
		CHECK(strcmp(item.poison, "ClaimAccepted without claim id, birth date or lines") ==
		      0);
		CHECK(event == NULL);
	} else if (rules_date_parse(a->birth_date, &birth) != RULES_OK) {
		CHECK(starts(item.poison, "malformed birth date "));
		CHECK(event == NULL);
	} else {
		CHECK(item.poison[0] == '\0');
		CHECK(event != NULL);
		check_event(a, code, event, len);
	}
	free(event);
	claims__claim_accepted__free_unpacked(a, NULL);
}

/* ---- 1 and 2: a quote request ------------------------------------------------------------- */

/* The QuoteCompute of a request body, when it is one (for its request id). */
static Claims__QuoteCompute *compute_of(const uint8_t *body, size_t len)
{
	Claims__QuoteCompute *c = NULL;
	struct envelope env;
	char why[160];

	if (envelope_unpack(body, len, &env, why, sizeof(why)) != OK)
		return NULL;
	if (env.type == CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE)
		c = claims__quote_compute__unpack(NULL, env.payload_len, env.payload);
	envelope_free(&env);
	return c;
}

static void check_error_reply(const uint8_t *reply, size_t len, const char *request_id)
{
	Claims__ErrorReply *e;
	struct envelope env;
	char why[160];

	CHECK(reply != NULL);
	CHECK(envelope_unpack(reply, len, &env, why, sizeof(why)) == OK);
	CHECK(env.type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY);
	e = claims__error_reply__unpack(NULL, env.payload_len, env.payload);
	CHECK(e != NULL && same_text(e->code, "BAD_REQUEST") && e->message != NULL);
	CHECK(same_text(e->request_id, request_id));
	claims__error_reply__free_unpacked(e, NULL);
	envelope_free(&env);
}

static void check_quote_reply(const struct quote_job *j)
{
	const Claims__QuoteCompute *c = j->compute;
	Claims__QuoteReply *r;
	struct envelope env;
	struct sums s;
	char code[sizeof(((struct reimburse_item *)0)->formula_code)];
	char why[160];

	CHECK(envelope_unpack(j->q.reply, j->q.reply_len, &env, why, sizeof(why)) == OK);
	CHECK(env.type == CLAIMS__MESSAGE_TYPE__QUOTE_REPLY);
	r = claims__quote_reply__unpack(NULL, env.payload_len, env.payload);
	CHECK(r != NULL);
	CHECK(same_text(r->request_id, c->request_id));
	CHECK(same_text(r->quote_id, c->claim->claim_id));
	CHECK(same_text(r->valid_until, c->valid_until));
	/* The code as the batch keeps it, in its item. */
	snprintf(code, sizeof(code), "%s", c->formula_code);
	check_lines(c->claim, code, r->lines, r->n_lines, &s);
	CHECK(r->total_charged_cents == s.charged && r->total_amo_paid_cents == s.amo_paid &&
	      r->total_amc_cents == s.amc && r->total_rac_cents == s.rac);
	CHECK(j->q.totals.charged == s.charged && j->q.totals.amo_paid == s.amo_paid &&
	      j->q.totals.amc == s.amc && j->q.totals.rac == s.rac);
	claims__quote_reply__free_unpacked(r, NULL);
	envelope_free(&env);
}

static void fuzz_quote(const uint8_t *body, size_t len)
{
	struct reimburse_quote q[1];
	struct quote_job j;
	const uint8_t *reply;
	uint8_t *error;
	size_t reply_len;
	int idx[1], k;

	quote_job_of(&j, body, len);
	k = quotes_to_compute(&j, 1, q, idx);
	if (j.error_code != NULL) {
		Claims__QuoteCompute *c = compute_of(body, len);

		CHECK(strcmp(j.error_code, "BAD_REQUEST") == 0);
		CHECK(j.compute == NULL && j.q.claim == NULL && k == 0);
		CHECK(c == NULL || !well_formed(c));
		reply = reply_body(&j, &error, &reply_len);
		check_error_reply(reply, reply_len, c != NULL ? c->request_id : NULL);
		free(error);
		claims__quote_compute__free_unpacked(c, NULL);
	} else {
		CHECK(j.compute != NULL && well_formed(j.compute));
		CHECK(j.q.claim != NULL && j.q.claim == j.compute->claim);
		CHECK(k == 1 && idx[0] == 0 && q[0].claim == j.q.claim);
		reimburse_quote_one(&ctx, &q[0]);
		j.q = q[0];
		/* A complete request is always computed: never "retry later". */
		CHECK(j.q.reply != NULL);
		check_quote_reply(&j);
	}
	job_free(&j);
}

/* The bytes as the payload of an Envelope(QUOTE_COMPUTE). */
static void fuzz_quote_payload(const uint8_t *data, size_t size)
{
	Claims__Envelope e = CLAIMS__ENVELOPE__INIT;
	uint8_t *body;
	size_t len;

	e.has_type = e.has_created_at_us = e.has_schema_version = e.has_payload = 1;
	e.type = CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE;
	e.message_id = "0190a3c4-1d2e-7f00-8000-00000000f022";
	e.trace_id = "fuzz";
	e.created_at_us = 1;
	e.schema_version = ENVELOPE_SCHEMA_VERSION;
	e.payload.data = (uint8_t *)data;
	e.payload.len = size;
	e.producer = "tpgate";
	len = claims__envelope__get_packed_size(&e);
	body = malloc(len);
	CHECK(body != NULL && claims__envelope__pack(&e, body) == len);
	fuzz_quote(body, len);
	free(body);
}

/* The bytes as the claim of a QuoteCompute complete but for it. */
static void fuzz_quote_claim(const uint8_t *data, size_t size, const char *code)
{
	Claims__QuoteCompute c = CLAIMS__QUOTE_COMPUTE__INIT;
	char id[UUID_STR_LEN];
	uint8_t *body;
	size_t len;

	c.claim = claims__claim_accepted__unpack(NULL, size, data);
	if (c.claim == NULL)
		return;
	c.formula_code = (char *)code;
	c.has_professional_ref = 1;
	c.professional_ref = 3;
	c.valid_until = "2026-07-01";
	c.request_id = "req-1";
	CHECK(envelope_pack(CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE, &c.base, "trace-1", "tpgate", id,
			    &body, &len) == OK);
	fuzz_quote(body, len);
	free(body);
	claims__claim_accepted__free_unpacked(c.claim, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned f;
	const char *code;

	if (size == 0 || size > ENVELOPE_MAX_BYTES) /* no message carries more */
		return 0;
	f = data[0] / 4 % (N_FORMULAS + 1);
	code = f < N_FORMULAS ? formula_codes[f] : "NO_SUCH";
	switch (data[0] % 4) {
	case 0:
		fuzz_claim(data + 1, size - 1, code);
		break;
	case 1:
		fuzz_quote_payload(data + 1, size - 1);
		break;
	case 2:
		fuzz_quote(data + 1, size - 1);
		break;
	default:
		fuzz_quote_claim(data + 1, size - 1, code);
		break;
	}
	return 0;
}
