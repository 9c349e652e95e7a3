/*
 * NAME
 *	fuzz_tpgate.c - libFuzzer target of what the tiers-payant front door
 *	and its clients decode
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_tpgate   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	The first byte picks the decoder, the rest is its input:
 *
 *	0  tp_reply_request_id(): the wire-level scan every client makes of
 *	   a reply payload. The id must be a NUL-terminated string within
 *	   the buffer, and equal the request_id protobuf-c decodes when the
 *	   payload is a valid ErrorReply.
 *	1  a RightsSnapshot as read back from Redis (a cache may hold
 *	   anything: an older version, a truncated value) evaluated by
 *	   tp_rights_evaluate() for a rank and a day taken from the input.
 *	   Open rights name a contract and a beneficiary and a period that
 *	   holds the day; closed ones give a reason.
 *	2  tp_identity_parse() of a User-Id: accepted only with a positive
 *	   reference, kind and value that fit, and a 40-character key.
 *	3  each tiers-payant request message, as the front door decodes
 *	   it after the envelope (tp_decode_payload(), within the budget of
 *	   a frame that size), and the input as a whole frame, envelope
 *	   then payload (envelope_unpack_budgeted(), tp_decode_payload()).
 *	   The budget gets back every byte once the message is freed, or
 *	   when the decode fails; a decode fails within the budget only
 *	   when it fails without one, when the budget was exceeded, or when
 *	   a text field holds a NUL byte.
 *	A broken check executes __builtin_trap().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/tpgate/tpgate_admit.c"
#include "../../services/tpgate/tpgate_decode.c"
#include "../../services/tpgate/tpgate_eligibility.c"
#include "common/tpclient.h"
#include "fuzz_target.h"

static void check_request_id(const uint8_t *data, size_t size)
{
	struct envelope env = {.payload = data, .payload_len = size};
	char id[80];
	Claims__ErrorReply *e;

	memset(id, 'x', sizeof(id));
	tp_reply_request_id(&env, id, sizeof(id));
	if (memchr(id, '\0', sizeof(id)) == NULL)
		__builtin_trap();
	e = claims__error_reply__unpack(NULL, size, data);
	/* Same answer as protobuf-c for ids that fit (and hold no NUL,
	 * which would cut either copy short). */
	if (e != NULL && e->request_id != NULL && strlen(e->request_id) + 1 < sizeof(id) &&
	    strcmp(e->request_id, id) != 0)
		__builtin_trap();
	claims__error_reply__free_unpacked(e, NULL);
}

static void check_rights(const uint8_t *data, size_t size)
{
	Claims__RightsSnapshot *s;
	Claims__BeneficiaryRef ref = CLAIMS__BENEFICIARY_REF__INIT;
	struct tp_rights r;
	int32_t day;

	if (size < 5)
		return;
	ref.has_rank = data[0] % 4 != 0;
	ref.rank = data[0] % 4;
	memcpy(&day, data + 1, sizeof(day));
	day %= 80000; /* up to the year 2189, either side of 1970 */
	s = claims__rights_snapshot__unpack(NULL, size - 5, data + 5);
	if (s == NULL)
		return;
	tp_rights_evaluate(s, &ref, day, &r);
	if (r.open && (r.reason != NULL || r.contract == NULL || r.beneficiary == NULL ||
		       r.valid_from > day || r.valid_to < day))
		__builtin_trap();
	if (!r.open && r.reason == NULL)
		__builtin_trap();
	claims__rights_snapshot__free_unpacked(s, NULL);
}

static void check_identity(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct tp_identity who;

	memcpy(text, data, size);
	text[size] = '\0';
	if (tp_identity_parse(text, &who) == OK &&
	    (who.ref <= 0 || memchr(who.kind, '\0', sizeof(who.kind)) == NULL ||
	     memchr(who.value, '\0', sizeof(who.value)) == NULL || strlen(who.key) != 40))
		__builtin_trap();
	free(text);
}

static void check_requests(const uint8_t *data, size_t size)
{
	static const Claims__MessageType types[] = {CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST,
						    CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST,
						    CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST,
						    CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST,
						    CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST};
	struct pb_budget budget;
	struct envelope env;
	const char *field;
	char why[160];

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct envelope payload = {.type = types[i], .payload = data, .payload_len = size};
		ProtobufCMessage *m, *plain;

		pb_budget_init(&budget, pb_decode_budget(size));
		m = tp_decode_payload(&budget, &payload, why, sizeof(why));
		plain = protobuf_c_message_unpack(tp_payload_descriptor(types[i]), NULL, size,
						  data);
		/* Refused while protobuf-c decodes it: too large decoded, or a
		 * NUL in a text field, and only then. */
		if (budget.peak > budget.limit || (m != NULL && plain == NULL) ||
		    (m == NULL && plain != NULL && !budget.exceeded &&
		     pb_text_nul(tp_payload_descriptor(types[i]), data, size, &field) != 1))
			__builtin_trap();
		protobuf_c_message_free_unpacked(m, &budget.allocator);
		protobuf_c_message_free_unpacked(plain, NULL);
		if (budget.used != 0)
			__builtin_trap();
	}
	if (envelope_unpack_budgeted(&budget, data, size, &env, why, sizeof(why)) == OK) {
		ProtobufCMessage *m = tp_decode_payload(&budget, &env, why, sizeof(why));

		if (budget.peak > budget.limit)
			__builtin_trap();
		protobuf_c_message_free_unpacked(m, &budget.allocator);
		envelope_free(&env);
	}
	if (budget.used != 0)
		__builtin_trap();
	claims__quote_compute__free_unpacked(claims__quote_compute__unpack(NULL, size, data), NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		check_request_id(data + 1, size - 1);
		break;
	case 1:
		check_rights(data + 1, size - 1);
		break;
	case 2:
		check_identity(data + 1, size - 1);
		break;
	default:
		check_requests(data + 1, size - 1);
		break;
	}
	return 0;
}
