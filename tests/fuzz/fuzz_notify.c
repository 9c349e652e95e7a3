/*
 * NAME
 *	fuzz_notify.c - libFuzzer target of what the notify daemon reads
 *
 * SYNOPSIS
 *	tests/fuzz/run.sh fuzz_notify   (clang -fsanitize=fuzzer,address,undefined)
 *
 * DESCRIPTION
 *	notify_decode() (services/notify/notify_decode.c, compiled in: run.sh
 *	links only the shared libraries) reads a Kafka value of
 *	reimbursements.computed or payments.settled. The first byte picks
 *	what the rest is (its value modulo 4):
 *
 *	0, 1, 2	the payload of a ReimbursementComputed, a PaymentSettled or a
 *		PaymentReturned, put in an envelope made the second byte's
 *		number of days before "now" (the age limit is 7 days), so
 *		that most inputs reach the payload's readers;
 *	3	a whole Kafka value, envelope and payload.
 *
 *	What is checked, beyond the sanitizers: an event is exactly one of
 *	poison (with a reason), skipped, or told; one told has a template,
 *	a canonical claim id, a positive contract, a dedupe key "event:" and
 *	the envelope's message id, and params that are a JSON object naming the
 *	claim, whose figures are cents between 0 and the decoder's bound;
 *	one refused or skipped has no params. Everything is freed: a leak is
 *	a crash (LeakSanitizer).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../services/notify/notify_decode.c"
#include "fuzz_target.h"

#define NOW_US	   INT64_C(1796000000000000)
#define DAY_US	   INT64_C(86400000000)
#define MESSAGE_ID "01234567-89ab-7def-8123-456789abcdef"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* The payload in an envelope of that type, made days ago. */
static int wrap(Claims__MessageType type, const uint8_t *payload, size_t len, int days,
		uint8_t **out, size_t *out_len)
{
	Claims__Envelope env = CLAIMS__ENVELOPE__INIT;

	env.has_type = env.has_created_at_us = env.has_schema_version = env.has_payload = 1;
	env.type = type;
	env.message_id = MESSAGE_ID;
	env.created_at_us = NOW_US - days * DAY_US;
	env.schema_version = ENVELOPE_SCHEMA_VERSION;
	env.payload.data = (uint8_t *)payload;
	env.payload.len = len;
	*out_len = claims__envelope__get_packed_size(&env);
	*out = malloc(*out_len > 0 ? *out_len : 1);
	if (*out == NULL)
		return ERR;
	claims__envelope__pack(&env, *out);
	return OK;
}

static void check_params(const struct notify_item *it)
{
	json_t *p = json_loads(it->params, 0, NULL), *v;
	const char *key;

	CHECK(p != NULL && json_is_object(p));
	CHECK(json_is_string(json_object_get(p, "claim_id")));
	CHECK(strcmp(json_string_value(json_object_get(p, "claim_id")), it->claim_id) == 0);
	json_object_foreach (p, key, v) {
		if (strstr(key, "_cents") != NULL)
			CHECK(json_is_integer(v) && json_integer_value(v) >= 0 &&
			      json_integer_value(v) <= NOTIFY_MAX_CENTS);
	}
	json_decref(p);
}

/* wrapped: the envelope is wrap()'s, whose message id the key must be. */
static void check_item(const struct notify_item *it, int wrapped)
{
	int poison = it->poison[0] != '\0', skipped = it->skip != NOTIFY_SKIP_NONE;

	CHECK(!(poison && skipped));
	if (poison || skipped) {
		CHECK(it->params == NULL);
		return;
	}
	CHECK(it->template != NULL && it->params != NULL);
	CHECK(uuid_valid(it->claim_id));
	CHECK(it->contract_id > 0);
	CHECK(strncmp(it->dedupe_key, "event:", 6) == 0 && uuid_valid(it->dedupe_key + 6));
	CHECK(!wrapped || strcmp(it->dedupe_key + 6, MESSAGE_ID) == 0);
	check_params(it);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const Claims__MessageType types[] = {
		CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED,
		CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED,
		CLAIMS__MESSAGE_TYPE__PAYMENT_RETURNED,
	};
	struct notify_item it;
	rd_kafka_message_t msg;
	uint8_t *value = NULL;
	size_t value_len;

	if (size < 2)
		return 0;
	memset(&it, 0, sizeof(it));
	memset(&msg, 0, sizeof(msg));
	if (data[0] % 4 == 3) {
		msg.payload = (void *)(data + 1);
		msg.len = size - 1;
	} else {
		if (wrap(types[data[0] % 4], data + 2, size - 2, data[1] % 16, &value,
			 &value_len) != OK)
			return 0;
		msg.payload = value;
		msg.len = value_len;
	}
	it.msg = &msg;
	notify_decode(&it, NOW_US, 7 * DAY_US);
	check_item(&it, value != NULL);
	notify_item_free(&it);
	free(value);
	return 0;
}
