/*
 * NAME
 *	notify_decode.c - read one event of the claims' flow and say what,
 *	if anything, its member is told
 *
 * DESCRIPTION
 *	Three events concern a member (docs/protocol.md, "Notifications"):
 *
 *	REIMBURSEMENT_COMPUTED	reimbursement_computed (some care paid), or
 *				claim_not_reimbursed (outcome ERROR);
 *	PAYMENT_SETTLED		reimbursement_paid, when the member is paid;
 *	PAYMENT_RETURNED	payment_returned, when the member's bank sent
 *				the transfer back (their bank details to mend).
 *
 *	A payment to a professional (tiers payant) tells the member nothing
 *	new: the decision already said what the mutuelle paid for them. An
 *	event older than the daemon's age limit (a backlog of days, a
 *	replay) is not announced: a member told today about a
 *	month-old reimbursement is confused, not informed; the account shows
 *	it all the same.
 *
 *	The params are the event's figures as a JSON object (for a claim
 *	not reimbursed in whole, the codes of its undecided lines, as the
 *	decision gave them) (jansson, which
 *	refuses text that is not UTF-8: such an event is poison, as it would
 *	be for PostgreSQL's jsonb). No I/O here: the fuzz target runs it.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "notify/notify.h"
#include "proto/reimbursement.pb-c.h"

/* The most a figure of an event may be, in cents: far above any care
 * (a hospital stay of ten million euros), below what could overflow. */
#define NOTIFY_MAX_CENTS 1000000000000LL

static int cents_ok(int64_t cents)
{
	return cents >= 0 && cents <= NOTIFY_MAX_CENTS;
}

/* Set key to an integer, a text or a boolean; ERR when the text is not
 * UTF-8 (json_string refuses it). */
static int put_int(json_t *o, const char *key, int64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v)) == 0 ? OK : ERR;
}

static int put_text(json_t *o, const char *key, const char *v)
{
	json_t *s;

	if (v == NULL || v[0] == '\0')
		return OK;
	s = json_string(v);
	return s != NULL && json_object_set_new(o, key, s) == 0 ? OK : ERR;
}

static int put_time(json_t *o, const char *key, int64_t at_us)
{
	char text[32];
	time_t t = (time_t)(at_us / 1000000);
	struct tm tm;

	if (at_us <= 0)
		return OK;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return ERR;
	return put_text(o, key, text);
}

/* The claim and contract every event names. */
static int set_keys(struct notify_item *it, const char *claim_id, int has_contract,
		    int64_t contract_id)
{
	if (claim_id == NULL || !uuid_valid(claim_id)) {
		snprintf(it->poison, sizeof(it->poison), "claim_id missing or not a UUID");
		return ERR;
	}
	if (!has_contract || contract_id <= 0) {
		snprintf(it->poison, sizeof(it->poison), "contract_id missing or not positive");
		return ERR;
	}
	snprintf(it->claim_id, sizeof(it->claim_id), "%s", claim_id);
	uuid_lower(it->claim_id);
	it->contract_id = contract_id;
	return OK;
}

static const char *outcome_name(Claims__Outcome outcome)
{
	switch (outcome) {
	case CLAIMS__OUTCOME__OUTCOME_COMPLETE:
		return "complete";
	case CLAIMS__OUTCOME__OUTCOME_PARTIAL:
		return "partial";
	case CLAIMS__OUTCOME__OUTCOME_ERROR:
		return "error";
	default:
		return NULL;
	}
}

/* The codes of the lines left undecided ("NOT_COVERED: ..." gives
 * NOT_COVERED), each once, in the order of the lines: why a claim was
 * not reimbursed, or only in part, as the decision said it. */
static int put_reasons(json_t *params, const Claims__ReimbursementComputed *rc)
{
	json_t *codes = json_array();

	for (size_t i = 0; i < rc->n_lines; i++) {
		const char *error = rc->lines[i]->error;
		size_t n, k;
		json_t *code;

		if (error == NULL || error[0] == '\0')
			continue;
		n = strcspn(error, ":");
		code = json_stringn(error, n);
		if (code == NULL) {
			json_decref(codes);
			return ERR;
		}
		for (k = 0; k < json_array_size(codes); k++)
			if (json_equal(json_array_get(codes, k), code))
				break;
		if (k < json_array_size(codes))
			json_decref(code);
		else
			json_array_append_new(codes, code);
	}
	if (json_array_size(codes) == 0) {
		json_decref(codes);
		return OK;
	}
	return json_object_set_new(params, "reasons", codes) == 0 ? OK : ERR;
}

static void read_computed(struct notify_item *it, const Claims__ReimbursementComputed *rc,
			  json_t *params)
{
	const char *outcome = outcome_name(rc->outcome);

	if (set_keys(it, rc->claim_id, rc->has_contract_id, rc->contract_id) != OK)
		return;
	if (!rc->has_outcome || outcome == NULL) {
		snprintf(it->poison, sizeof(it->poison), "outcome missing or unknown");
		return;
	}
	if (!cents_ok(rc->total_charged_cents) || !cents_ok(rc->total_amo_paid_cents) ||
	    !cents_ok(rc->total_amc_cents) || !cents_ok(rc->total_rac_cents)) {
		snprintf(it->poison, sizeof(it->poison), "a total is negative or out of range");
		return;
	}
	it->template = rc->outcome == CLAIMS__OUTCOME__OUTCOME_ERROR ? "claim_not_reimbursed"
								     : "reimbursement_computed";
	if (put_text(params, "outcome", outcome) != OK ||
	    put_int(params, "charged_cents", rc->total_charged_cents) != OK ||
	    put_int(params, "amo_paid_cents", rc->total_amo_paid_cents) != OK ||
	    put_int(params, "amc_cents", rc->total_amc_cents) != OK ||
	    put_int(params, "rac_cents", rc->total_rac_cents) != OK)
		snprintf(it->poison, sizeof(it->poison), "params could not be written");
	else if (put_reasons(params, rc) != OK)
		snprintf(it->poison, sizeof(it->poison), "a line's error is not UTF-8");
}

/* "member" is told; "professional" is skipped; anything else is poison. */
static int member_payee(struct notify_item *it, const char *payee)
{
	if (payee != NULL && strcmp(payee, "member") == 0)
		return 1;
	if (payee != NULL && strcmp(payee, "professional") == 0)
		it->skip = NOTIFY_SKIP_PROFESSIONAL;
	else
		snprintf(it->poison, sizeof(it->poison),
			 "payee is neither member nor professional");
	return 0;
}

/* A payment's event: its keys, a member payee (a professional's is
 * skipped) and a positive amount; 1 when it is to be told. */
static int member_payment(struct notify_item *it, const char *claim_id, int has_contract,
			  int64_t contract_id, const char *payee, int has_amount, int64_t amount)
{
	if (set_keys(it, claim_id, has_contract, contract_id) != OK || !member_payee(it, payee))
		return 0;
	if (!has_amount || amount <= 0 || !cents_ok(amount)) {
		snprintf(it->poison, sizeof(it->poison),
			 "amount missing, not positive or out of range");
		return 0;
	}
	return 1;
}

static void read_settled(struct notify_item *it, const Claims__PaymentSettled *ps, json_t *params)
{
	if (!member_payment(it, ps->claim_id, ps->has_contract_id, ps->contract_id, ps->payee,
			    ps->has_amount_cents, ps->amount_cents))
		return;
	it->template = "reimbursement_paid";
	if (put_int(params, "amount_cents", ps->amount_cents) != OK ||
	    put_int(params, "payment_id", ps->payment_id) != OK ||
	    put_text(params, "bank_reference", ps->bank_reference) != OK ||
	    put_time(params, "paid_at", ps->paid_at_us) != OK)
		snprintf(it->poison, sizeof(it->poison), "a text is not UTF-8");
}

static void read_returned(struct notify_item *it, const Claims__PaymentReturned *pr, json_t *params)
{
	if (!member_payment(it, pr->claim_id, pr->has_contract_id, pr->contract_id, pr->payee,
			    pr->has_amount_cents, pr->amount_cents))
		return;
	it->template = "payment_returned";
	if (put_int(params, "amount_cents", pr->amount_cents) != OK ||
	    put_int(params, "payment_id", pr->payment_id) != OK ||
	    put_text(params, "reason", pr->reason) != OK ||
	    json_object_set_new(params, "was_paid", json_boolean(pr->was_paid)) != 0 ||
	    put_time(params, "returned_at", pr->returned_at_us) != OK)
		snprintf(it->poison, sizeof(it->poison), "a text is not UTF-8");
}

/* The payload as its type says; what it tells goes into params. */
static void read_payload(struct notify_item *it, const struct envelope *env, json_t *params)
{
	switch (env->type) {
	case CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED: {
		Claims__ReimbursementComputed *rc = claims__reimbursement_computed__unpack(
			NULL, env->payload_len, env->payload);

		if (rc == NULL) {
			snprintf(it->poison, sizeof(it->poison),
				 "payload is not a ReimbursementComputed");
			return;
		}
		read_computed(it, rc, params);
		claims__reimbursement_computed__free_unpacked(rc, NULL);
		return;
	}
	case CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED: {
		Claims__PaymentSettled *ps =
			claims__payment_settled__unpack(NULL, env->payload_len, env->payload);

		if (ps == NULL) {
			snprintf(it->poison, sizeof(it->poison), "payload is not a PaymentSettled");
			return;
		}
		read_settled(it, ps, params);
		claims__payment_settled__free_unpacked(ps, NULL);
		return;
	}
	case CLAIMS__MESSAGE_TYPE__PAYMENT_RETURNED: {
		Claims__PaymentReturned *pr =
			claims__payment_returned__unpack(NULL, env->payload_len, env->payload);

		if (pr == NULL) {
			snprintf(it->poison, sizeof(it->poison),
				 "payload is not a PaymentReturned");
			return;
		}
		read_returned(it, pr, params);
		claims__payment_returned__free_unpacked(pr, NULL);
		return;
	}
	default:
		snprintf(it->poison, sizeof(it->poison),
			 "expected REIMBURSEMENT_COMPUTED, PAYMENT_SETTLED or PAYMENT_RETURNED, "
			 "got %s",
			 envelope_type_name(env->type));
	}
}

void notify_decode(struct notify_item *it, int64_t now_us, int64_t max_age_us)
{
	struct envelope env;
	json_t *params;

	if (envelope_unpack(it->msg->payload, it->msg->len, &env, it->poison, sizeof(it->poison)) !=
	    OK)
		return;
	params = json_object();
	read_payload(it, &env, params);
	if (it->poison[0] == '\0' && env.created_at_us <= 0) {
		/* Its age cannot be judged: a producer's fault to mend. */
		snprintf(it->poison, sizeof(it->poison), "envelope without created_at_us");
		it->skip = NOTIFY_SKIP_NONE;
	}
	if (it->poison[0] == '\0' && it->skip == NOTIFY_SKIP_NONE) {
		if (max_age_us > 0 && env.created_at_us < now_us - max_age_us)
			it->skip = NOTIFY_SKIP_TOO_OLD;
		else if (put_text(params, "claim_id", it->claim_id) != OK ||
			 (it->params = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
			snprintf(it->poison, sizeof(it->poison), "params could not be written");
		snprintf(it->dedupe_key, sizeof(it->dedupe_key), "event:%s", env.message_id);
	}
	json_decref(params);
	envelope_free(&env);
}

void notify_item_free(struct notify_item *it)
{
	free(it->params);
	free(it->push);
	it->params = it->push = NULL;
}
