/*
 * NAME
 *	test_notify_decode.c - what the notify daemon makes of each event
 *
 * DESCRIPTION
 *	White-box test of notify_decode.c (included here, as the daemons'
 *	sources are not a library): which events tell the member what, with
 *	which params, and which are skipped or refused, and why.
 */
#include <jansson.h>

#include "../../services/notify/notify_decode.c"
#include "proto/member.pb-c.h"
#include "test.h"

#define CLAIM	"01234567-89ab-7def-8123-456789abcdef"
#define NOW_US	INT64_C(1796000000000000) /* 2026-11-30T00:53:20Z */
#define HOUR_US INT64_C(3600000000)
#define MAX_AGE (168 * HOUR_US)

/* The envelope's message id of the last decode_packed(). */
static char last_id[UUID_STR_LEN];

/* Decode the envelope of msg (type, payload) made at made_us (0: an
 * envelope without created_at_us). */
static void decode_packed(struct notify_item *it, Claims__MessageType type,
			  const ProtobufCMessage *msg, int64_t made_us)
{
	rd_kafka_message_t *m = calloc(1, sizeof(*m));
	uint8_t *bytes = NULL;
	size_t len = 0;
	char *id = last_id;

	memset(it, 0, sizeof(*it));
	if (envelope_pack(type, msg, NULL, "test", id, &bytes, &len) != OK)
		return;
	/* created_at_us is now: set it as the test wants, re-packed. */
	{
		struct envelope env;
		char why[160];
		Claims__Envelope copy;

		if (envelope_unpack(bytes, len, &env, why, sizeof(why)) != OK)
			return;
		copy = *env.pb;
		copy.created_at_us = made_us;
		copy.has_created_at_us = made_us != 0;
		free(bytes);
		len = claims__envelope__get_packed_size(&copy);
		bytes = malloc(len);
		claims__envelope__pack(&copy, bytes);
		envelope_free(&env);
	}
	m->payload = bytes;
	m->len = len;
	it->msg = m;
	notify_decode(it, NOW_US, MAX_AGE);
}

static void item_done(struct notify_item *it)
{
	if (it->msg != NULL) {
		free(it->msg->payload);
		free(it->msg);
	}
	notify_item_free(it);
}

static json_int_t param_int(const struct notify_item *it, const char *key)
{
	json_t *p = json_loads(it->params, 0, NULL);
	json_int_t v = p != NULL ? json_integer_value(json_object_get(p, key)) : -1;

	json_decref(p);
	return v;
}

static int param_is(const struct notify_item *it, const char *key, const char *want)
{
	json_t *p = json_loads(it->params, 0, NULL);
	const char *got = p != NULL ? json_string_value(json_object_get(p, key)) : NULL;
	int same = got != NULL && strcmp(got, want) == 0;

	json_decref(p);
	return same;
}

static int has_param(const struct notify_item *it, const char *key)
{
	json_t *p = json_loads(it->params, 0, NULL);
	int has = p != NULL && json_object_get(p, key) != NULL;

	json_decref(p);
	return has;
}

static Claims__ReimbursementComputed computed(Claims__Outcome outcome)
{
	Claims__ReimbursementComputed rc = CLAIMS__REIMBURSEMENT_COMPUTED__INIT;

	rc.claim_id = CLAIM;
	rc.has_contract_id = rc.has_outcome = 1;
	rc.contract_id = 42;
	rc.outcome = outcome;
	rc.has_total_charged_cents = rc.has_total_amo_paid_cents = 1;
	rc.has_total_amc_cents = rc.has_total_rac_cents = 1;
	rc.total_charged_cents = 3000;
	rc.total_amo_paid_cents = 1900;
	rc.total_amc_cents = 900;
	rc.total_rac_cents = 200;
	return rc;
}

static void test_decision_told(void)
{
	Claims__ReimbursementComputed rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	struct notify_item it;

	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "");
	CHECK(it.skip == NOTIFY_SKIP_NONE);
	CHECK_EQ_STR(it.template, "reimbursement_computed");
	CHECK_EQ_STR(it.claim_id, CLAIM);
	CHECK_EQ_I64(it.contract_id, 42);
	/* The event's own id: read again, the same event has the same key. */
	CHECK(strncmp(it.dedupe_key, "event:", 6) == 0 && strcmp(it.dedupe_key + 6, last_id) == 0);
	CHECK(!has_param(&it, "reasons"));
	CHECK_EQ_I64(param_int(&it, "charged_cents"), 3000);
	CHECK_EQ_I64(param_int(&it, "amo_paid_cents"), 1900);
	CHECK_EQ_I64(param_int(&it, "amc_cents"), 900);
	CHECK_EQ_I64(param_int(&it, "rac_cents"), 200);
	CHECK(param_is(&it, "outcome", "complete"));
	CHECK(param_is(&it, "claim_id", CLAIM));
	item_done(&it);
}

/* The codes of the params' "reasons", joined by spaces ("" when none). */
static void reasons_of(const struct notify_item *it, char *out, size_t size)
{
	json_t *p = json_loads(it->params, 0, NULL), *v;
	size_t i, used = 0;

	out[0] = '\0';
	json_array_foreach (json_object_get(p, "reasons"), i, v) {
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "",
					 json_string_value(v));
	}
	json_decref(p);
}

static void test_claim_not_reimbursed(void)
{
	Claims__ReimbursementComputed rc = computed(CLAIMS__OUTCOME__OUTCOME_ERROR);
	Claims__LineDecision l[3], *lp[3] = {&l[0], &l[1], &l[2]};
	struct notify_item it;
	char reasons[128];

	for (int k = 0; k < 3; k++)
		claims__line_decision__init(&l[k]);
	l[0].error = "NO_GUARANTEE_IN_FORCE: no version of ESSENTIEL on 2026-03-10";
	l[1].error = "NOT_COVERED: the contract ended on 2026-03-01";
	l[2].error = "NO_GUARANTEE_IN_FORCE: no version of ESSENTIEL on 2026-03-11";
	rc.n_lines = 3;
	rc.lines = lp;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.template, "claim_not_reimbursed");
	CHECK(param_is(&it, "outcome", "error"));
	/* Why, from the decision itself: each line's code, once. */
	reasons_of(&it, reasons, sizeof(reasons));
	CHECK_EQ_STR(reasons, "NO_GUARANTEE_IN_FORCE NOT_COVERED");
	item_done(&it);

	/* A line's error that is not UTF-8 cannot be told. */
	l[1].error = "NOT_COVERED\xff: ...";
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "a line's error is not UTF-8");
	item_done(&it);
}

static void test_bad_decisions_refused(void)
{
	Claims__ReimbursementComputed rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	struct notify_item it;

	rc.total_amc_cents = -1;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "a total is negative or out of range");
	CHECK(it.template == NULL && it.params == NULL);
	item_done(&it);

	rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	rc.claim_id = "not-a-uuid";
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "claim_id missing or not a UUID");
	item_done(&it);

	rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	rc.has_contract_id = 0;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "contract_id missing or not positive");
	item_done(&it);

	rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	rc.has_outcome = 0;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "outcome missing or unknown");
	item_done(&it);
}

static void test_old_event_skipped(void)
{
	Claims__ReimbursementComputed rc = computed(CLAIMS__OUTCOME__OUTCOME_COMPLETE);
	struct notify_item it;

	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base,
		      NOW_US - MAX_AGE - HOUR_US);
	CHECK_EQ_STR(it.poison, "");
	CHECK(it.skip == NOTIFY_SKIP_TOO_OLD);
	CHECK(it.params == NULL);
	item_done(&it);

	/* Just inside the limit: told. */
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base,
		      NOW_US - MAX_AGE + HOUR_US);
	CHECK(it.skip == NOTIFY_SKIP_NONE && it.params != NULL);
	item_done(&it);

	/* No time at all: its age cannot be judged, it is refused (not
	 * taken for an old one, silently). */
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, 0);
	CHECK_EQ_STR(it.poison, "envelope without created_at_us");
	CHECK(it.skip == NOTIFY_SKIP_NONE);
	item_done(&it);
}

static Claims__PaymentSettled settled(const char *payee)
{
	Claims__PaymentSettled ps = CLAIMS__PAYMENT_SETTLED__INIT;

	ps.claim_id = CLAIM;
	ps.has_contract_id = ps.has_amount_cents = ps.has_payment_id = ps.has_paid_at_us = 1;
	ps.contract_id = 42;
	ps.payment_id = 7;
	ps.payee = (char *)payee;
	ps.amount_cents = 900;
	ps.bank_reference = "E2E-1";
	ps.paid_at_us = NOW_US;
	return ps;
}

static void test_payment_told_to_the_member_only(void)
{
	Claims__PaymentSettled ps = settled("member");
	struct notify_item it;

	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ps.base, NOW_US);
	CHECK_EQ_STR(it.template, "reimbursement_paid");
	CHECK_EQ_I64(param_int(&it, "amount_cents"), 900);
	CHECK_EQ_I64(param_int(&it, "payment_id"), 7);
	CHECK(param_is(&it, "bank_reference", "E2E-1"));
	CHECK(param_is(&it, "paid_at", "2026-11-30T00:53:20Z"));
	item_done(&it);

	ps = settled("professional");
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ps.base, NOW_US);
	CHECK_EQ_STR(it.poison, "");
	CHECK(it.skip == NOTIFY_SKIP_PROFESSIONAL);
	item_done(&it);

	ps = settled("someone");
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ps.base, NOW_US);
	CHECK_EQ_STR(it.poison, "payee is neither member nor professional");
	item_done(&it);

	ps = settled("member");
	ps.amount_cents = 0;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ps.base, NOW_US);
	CHECK_EQ_STR(it.poison, "amount missing, not positive or out of range");
	item_done(&it);

	/* A reference that is not UTF-8 cannot be JSON (nor jsonb). */
	ps = settled("member");
	ps.bank_reference = "E2E-\xe9";
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ps.base, NOW_US);
	CHECK_EQ_STR(it.poison, "a text is not UTF-8");
	item_done(&it);
}

static void test_return_told(void)
{
	Claims__PaymentReturned pr = CLAIMS__PAYMENT_RETURNED__INIT;
	struct notify_item it;

	pr.claim_id = CLAIM;
	pr.has_contract_id = pr.has_amount_cents = pr.has_was_paid = 1;
	pr.contract_id = 42;
	pr.payee = "member";
	pr.amount_cents = 900;
	pr.reason = "AC04";
	pr.was_paid = 1;
	decode_packed(&it, CLAIMS__MESSAGE_TYPE__PAYMENT_RETURNED, &pr.base, NOW_US);
	CHECK_EQ_STR(it.template, "payment_returned");
	CHECK(param_is(&it, "reason", "AC04"));
	CHECK_EQ_I64(param_int(&it, "amount_cents"), 900);
	item_done(&it);
}

static void test_other_types_and_bytes_refused(void)
{
	Claims__ContractChanged cc = CLAIMS__CONTRACT_CHANGED__INIT;
	struct notify_item it;
	rd_kafka_message_t m = {0};

	decode_packed(&it, CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED, &cc.base, NOW_US);
	CHECK_EQ_STR(it.poison, "expected REIMBURSEMENT_COMPUTED, PAYMENT_SETTLED or "
				"PAYMENT_RETURNED, got CONTRACT_CHANGED");
	item_done(&it);

	memset(&it, 0, sizeof(it));
	m.payload = "not protobuf";
	m.len = 12;
	it.msg = &m;
	notify_decode(&it, NOW_US, MAX_AGE);
	CHECK(it.poison[0] != '\0');
	CHECK(it.template == NULL);
	notify_item_free(&it);
}

int main(void)
{
	RUN(test_decision_told);
	RUN(test_claim_not_reimbursed);
	RUN(test_bad_decisions_refused);
	RUN(test_old_event_skipped);
	RUN(test_payment_told_to_the_member_only);
	RUN(test_return_told);
	RUN(test_other_types_and_bytes_refused);
	return test_report();
}
