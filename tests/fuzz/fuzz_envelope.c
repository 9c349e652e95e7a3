/*
 * NAME
 *	fuzz_envelope.c - libFuzzer target of the envelope and of every payload decoder
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_envelope   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	Feeds arbitrary bytes to envelope_unpack(), the first thing every
 *	consumer does with a Kafka value or a ZeroMQ frame. When the
 *	envelope is accepted, its payload goes to the unpack function of
 *	the message named by its type, for every value of MessageType: the
 *	calls the daemons make (claims__claim_submitted__unpack, ...).
 *	A decoded ClaimSubmitted also goes through intake's validation
 *	(intake_check_static, then intake_check_coverage).
 *
 *	What is checked, beyond the sanitizers:
 *	  - the envelope re-packs to the announced size, decodes again,
 *	    passes envelope_unpack again and re-packs to the same bytes;
 *	  - the payload message re-packs to the announced size, decodes
 *	    again with the same unpack function and re-packs to the same
 *	    bytes;
 *	  - envelope_pack() of the decoded payload gives an envelope that
 *	    envelope_unpack() accepts, with the same type, trace id and
 *	    payload bytes;
 *	  - the value of a DeadLetter (the original message, replayed as
 *	    is by claimctl dlq replay) goes through all of this again;
 *	  - a ClaimSubmitted that intake_check_static() accepts passes
 *	    intake_check_coverage() with an open contract, and is refused
 *	    with UNKNOWN_MEMBER or NOT_COVERED without one; every refusal
 *	    carries a reason code and a field.
 *	A broken check executes __builtin_trap(), which libFuzzer reports as
 *	a crash with the input left in build-fuzz/.
 *
 *	LLVMFuzzerInitialize() makes sure that every MessageType value has a
 *	decoder below: a type added to envelope.proto without one here
 *	aborts the target at start.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/envelope.h"
#include "proto/claims.pb-c.h"
#include "proto/envelope.pb-c.h"
#include "proto/member.pb-c.h"
#include "proto/reimbursement.pb-c.h"
#include "proto/tierspayant.pb-c.h"
#include "proto/tpinternal.pb-c.h"

/*
 * intake_check.c lives in services/intake/, which run.sh does not link
 * into the fuzz targets (only services/rules and services/common, the
 * libraries every daemon shares). Its validation is pure (no database,
 * no socket), so the file is compiled into this target directly rather
 * than linking the intake daemon with its main().
 */
#include "../../services/intake/intake_check.c"
#include "fuzz_protobuf.h"

#include "fuzz_target.h"

/* A fixed "today" keeps every run reproducible: 2025-06-30. */
static int32_t today;

/* FUZZ_STRICT_TAGS set: see bad_unknown_tag(). */
static int strict_tags;

/*
 * The payload of an envelope of the given type, decoded with the unpack
 * function of that type's message, and that message's descriptor.
 * data NULL: only look the descriptor up (LLVMFuzzerInitialize). desc
 * NULL on return: a type this target does not know, which
 * LLVMFuzzerInitialize rules out.
 */
#define DECODE(TYPE, name)                             \
	case CLAIMS__MESSAGE_TYPE__##TYPE:             \
		*desc = &claims__##name##__descriptor; \
		if (data == NULL)                      \
			return NULL;                   \
		return (ProtobufCMessage *)claims__##name##__unpack(NULL, len, data);

static ProtobufCMessage *decode(Claims__MessageType type, const uint8_t *data, size_t len,
				const ProtobufCMessageDescriptor **desc)
{
	switch (type) {
		DECODE(CLAIM_SUBMITTED, claim_submitted)
		DECODE(CLAIM_ACCEPTED, claim_accepted)
		DECODE(CLAIM_REJECTED, claim_rejected)
		DECODE(SUBMIT_REPLY, submit_reply)
		DECODE(REIMBURSEMENT_COMPUTED, reimbursement_computed)
		DECODE(PAYMENT_SETTLED, payment_settled)
		DECODE(PAYMENT_RETURNED, payment_returned)
		DECODE(SESSION_OPEN_REQUEST, session_open_request)
		DECODE(SESSION_OPEN_REPLY, session_open_reply)
		DECODE(ELIGIBILITY_REQUEST, eligibility_request)
		DECODE(ELIGIBILITY_REPLY, eligibility_reply)
		DECODE(QUOTE_REQUEST, quote_request)
		DECODE(QUOTE_REPLY, quote_reply)
		DECODE(INVOICE_REQUEST, invoice_request)
		DECODE(INVOICE_REPLY, invoice_reply)
		DECODE(INVOICE_STATUS_REQUEST, invoice_status_request)
		DECODE(INVOICE_STATUS_REPLY, invoice_status_reply)
		DECODE(ERROR_REPLY, error_reply)
		DECODE(QUOTE_COMPUTE, quote_compute)
		DECODE(QUOTE_COMPUTED, reimbursement_computed)
		DECODE(NOTIFICATION_REQUESTED, notification_requested)
		DECODE(DOCUMENT_REQUESTED, document_requested)
		DECODE(DOCUMENT_READY, document_ready)
		DECODE(CONTRACT_CHANGED, contract_changed)
		DECODE(DEAD_LETTER, dead_letter)
	default:
		break;
	}
	*desc = NULL;
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const ProtobufCEnumDescriptor *e = &claims__message_type__descriptor;
	const ProtobufCMessageDescriptor *desc;

	(void)argc;
	(void)argv;
	strict_tags = getenv("FUZZ_STRICT_TAGS") != NULL;
	if (sodium_init() < 0 || date_parse("2025-06-30", &today) != OK) {
		fprintf(stderr, "fuzz_envelope: cannot initialise\n");
		abort();
	}
	for (unsigned i = 0; i < e->n_values; i++) {
		Claims__MessageType t = (Claims__MessageType)e->values[i].value;

		if (t == CLAIMS__MESSAGE_TYPE__MESSAGE_TYPE_UNKNOWN)
			continue;
		if (decode(t, NULL, 0, &desc) != NULL || desc == NULL) {
			fprintf(stderr, "fuzz_envelope: no decoder for message type %s\n",
				e->values[i].name);
			abort();
		}
	}
	return 0;
}

/* bad_unknown_tag(): see fuzz_protobuf.h. */

/* Pack a message into a fresh buffer; the packed size must be the one announced. */
static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	CHECK(buf != NULL);
	CHECK(protobuf_c_message_pack(m, buf) == *len);
	return buf;
}

/* The envelope re-packs, decodes again and re-packs to the same bytes. */
static void envelope_round_trip(const struct envelope *env)
{
	struct envelope again;
	char why[160];
	size_t len1, len2;
	uint8_t *buf1 = pack(&env->pb->base, &len1), *buf2;

	if (len1 <= ENVELOPE_MAX_BYTES && (strict_tags || !bad_unknown_tag(&env->pb->base))) {
		CHECK(envelope_unpack(buf1, len1, &again, why, sizeof(why)) == OK);
		CHECK(again.type == env->type);
		CHECK(strcmp(again.message_id, env->message_id) == 0);
		CHECK(strcmp(again.trace_id, env->trace_id) == 0);
		CHECK(again.created_at_us == env->created_at_us);
		CHECK(again.payload_len == env->payload_len);
		CHECK(env->payload_len == 0 ||
		      memcmp(again.payload, env->payload, env->payload_len) == 0);
		buf2 = pack(&again.pb->base, &len2);
		CHECK(len2 == len1);
		CHECK(memcmp(buf1, buf2, len1) == 0);
		free(buf2);
		envelope_free(&again);
	}
	free(buf1);
}

/*
 * The decoded payload re-packs, decodes again with the same function and
 * re-packs to the same bytes; envelope_pack() of it is accepted by
 * envelope_unpack(). Unknown fields are kept by protobuf-c, so the first
 * re-pack may differ from the input (duplicate fields, long varints,
 * strings cut at a NUL) but never from the second.
 */
static void payload_round_trip(const struct envelope *env, const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *m2;
	struct envelope wrapped;
	char id[UUID_STR_LEN], why[160];
	uint8_t *buf1, *buf2, *out;
	size_t len1, len2, out_len;

	buf1 = pack(m, &len1);
	if (strict_tags || !bad_unknown_tag(m)) {
		m2 = decode(env->type, buf1, len1, &desc);
		CHECK(m2 != NULL);
		CHECK(m2->descriptor == m->descriptor);
		buf2 = pack(m2, &len2);
		CHECK(len2 == len1);
		CHECK(memcmp(buf1, buf2, len1) == 0);
		protobuf_c_message_free_unpacked(m2, NULL);
		free(buf2);
	}

	CHECK(envelope_pack(env->type, m, env->trace_id, env->pb->producer, id, &out, &out_len) ==
	      OK);
	if (out_len <= ENVELOPE_MAX_BYTES) {
		CHECK(envelope_unpack(out, out_len, &wrapped, why, sizeof(why)) == OK);
		CHECK(wrapped.type == env->type);
		CHECK(strcmp(wrapped.message_id, id) == 0);
		CHECK(strcmp(wrapped.trace_id, env->trace_id) == 0);
		CHECK(wrapped.payload_len == len1);
		CHECK(len1 == 0 || memcmp(wrapped.payload, buf1, len1) == 0);
		envelope_free(&wrapped);
	}
	free(out);
	free(buf1);
}

static int refused(const struct intake_outcome *o, const char *code)
{
	return !o->accepted && o->field[0] != '\0' && o->message[0] != '\0' &&
	       (code == NULL ? o->reason_code[0] != '\0' : strcmp(o->reason_code, code) == 0);
}

/* Intake's validation of a decoded submission, as intake_store.c runs it. */
static void check_submission(const Claims__ClaimSubmitted *s)
{
	struct intake_outcome out;
	struct coverage cov;

	memset(&out, 0, sizeof(out));
	if (intake_check_static(s, today, &out) != OK) {
		CHECK(refused(&out, NULL));
		return;
	}
	CHECK(s->n_lines >= 1 && s->n_lines <= INTAKE_MAX_LINES);

	/* A contract open forever covers every care date that passed. */
	memset(&cov, 0, sizeof(cov));
	cov.found = 1;
	cov.from = INT32_MIN;
	cov.until = INT32_MAX;
	memset(&out, 0, sizeof(out));
	/* Covered every day that passed; the record gives no birth date
	 * the rules can use: the record is found wanting, nothing else. */
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(strcmp(out.reason_code, "BENEFICIARY_RECORD_INVALID") == 0);

	cov.suspended = 1;
	cov.suspended_from = INT32_MIN;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "NOT_COVERED"));

	/* A contract that starts after the care (today + 1) covers none of it. */
	memset(&out, 0, sizeof(out));
	cov.suspended = 0;
	cov.from = today + 1;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "NOT_COVERED"));

	memset(&out, 0, sizeof(out));
	cov.found = 0;
	CHECK(intake_check_coverage(s, &cov, &out) == ERR);
	CHECK(refused(&out, "UNKNOWN_MEMBER"));
}

/*
 * One message as a consumer sees it. The value of a DeadLetter is the
 * original message, which `claimctl dlq replay` sends back to its topic
 * unchanged: it goes through the same path, one level down.
 */
static void consume(const uint8_t *data, size_t size, int depth)
{
	struct envelope env;
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *m;
	char why[160];

	if (envelope_unpack(data, size, &env, why, sizeof(why)) != OK) {
		CHECK(env.pb == NULL);
		CHECK(why[0] != '\0');
		return;
	}
	CHECK(envelope_type_name(env.type) != NULL);
	CHECK(uuid_valid(env.message_id));
	CHECK(env.trace_id != NULL && env.trace_id[0] != '\0');
	envelope_round_trip(&env);

	m = decode(env.type, env.payload != NULL ? env.payload : (const uint8_t *)"",
		   env.payload_len, &desc);
	CHECK(desc != NULL);
	if (m != NULL) {
		CHECK(m->descriptor == desc);
		payload_round_trip(&env, m);
		if (env.type == CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED)
			check_submission((const Claims__ClaimSubmitted *)m);
		if (env.type == CLAIMS__MESSAGE_TYPE__DEAD_LETTER && depth < 2) {
			const Claims__DeadLetter *d = (const Claims__DeadLetter *)m;

			if (d->has_value)
				consume(d->value.data, d->value.len, depth + 1);
		}
		protobuf_c_message_free_unpacked(m, NULL);
	}
	envelope_free(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	consume(data, size, 0);
	return 0;
}
