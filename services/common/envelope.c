/*
 * NAME
 *	envelope.c - wrap and unwrap the protobuf envelope of every message
 */
#include "common/envelope.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pbtext.h"
#include "common/xalloc.h"

/* A trace id is carried into logs and tables: 1 to 64 characters of
 * A-Z a-z 0-9 . _ : - (a UUID, a W3C trace id), never arbitrary bytes. */
static int trace_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > ENVELOPE_MAX_TRACE_ID)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("._:-", s[i]) == NULL)
			return 0;
	return 1;
}

int envelope_pack(Claims__MessageType type, const ProtobufCMessage *payload, const char *trace_id,
		  const char *producer, char message_id[UUID_STR_LEN], uint8_t **out,
		  size_t *out_len)
{
	uuid_v7(message_id);
	return envelope_pack_as(type, payload, trace_id, producer, message_id, out, out_len);
}

int envelope_pack_as(Claims__MessageType type, const ProtobufCMessage *payload,
		     const char *trace_id, const char *producer, const char *message_id,
		     uint8_t **out, size_t *out_len)
{
	Claims__Envelope env = CLAIMS__ENVELOPE__INIT;
	size_t payload_len = protobuf_c_message_get_packed_size(payload);
	uint8_t *payload_buf = xmalloc(payload_len);

	if (protobuf_c_message_pack(payload, payload_buf) != payload_len) {
		free(payload_buf);
		return ERR;
	}
	env.has_type = 1;
	env.type = type;
	env.message_id = (char *)message_id;
	/* A trace id no consumer would accept (data older than the rule)
	 * starts a new trace rather than poisoning the message. */
	env.trace_id = (char *)(trace_id != NULL && trace_id[0] != '\0' && trace_id_ok(trace_id)
					? trace_id
					: message_id);
	env.has_created_at_us = 1;
	env.created_at_us = clock_now_us();
	env.has_schema_version = 1;
	env.schema_version = ENVELOPE_SCHEMA_VERSION;
	env.has_payload = 1;
	env.payload.data = payload_buf;
	env.payload.len = payload_len;
	env.producer = (char *)producer;
	*out_len = claims__envelope__get_packed_size(&env);
	*out = xmalloc(*out_len);
	claims__envelope__pack(&env, *out);
	free(payload_buf);
	return OK;
}

static int fail(char *why, size_t why_len, const char *reason)
{
	snprintf(why, why_len, "%s", reason);
	return ERR;
}

int envelope_unpack(const void *buf, size_t len, struct envelope *env, char *why, size_t why_len)
{
	return envelope_unpack_with(buf, len, NULL, env, why, why_len);
}

int envelope_unpack_with(const void *buf, size_t len, ProtobufCAllocator *allocator,
			 struct envelope *env, char *why, size_t why_len)
{
	const char *field;

	memset(env, 0, sizeof(*env));
	if (len == 0)
		return fail(why, why_len, "empty message");
	if (len > ENVELOPE_MAX_BYTES)
		return fail(why, why_len, "message larger than 1 MiB");
	env->allocator = allocator;
	env->pb = claims__envelope__unpack(allocator, len, buf);
	if (env->pb == NULL)
		return fail(why, why_len, "not a protobuf Envelope");
	if (pb_text_nul(&claims__envelope__descriptor, buf, len, &field) != 0) {
		envelope_free(env);
		snprintf(why, why_len, "Envelope: text field %s holds a NUL byte", field);
		return ERR;
	}
	if (!env->pb->has_type || envelope_type_name(env->pb->type) == NULL) {
		envelope_free(env);
		return fail(why, why_len, "unknown message type");
	}
	if (!env->pb->has_schema_version || env->pb->schema_version != ENVELOPE_SCHEMA_VERSION) {
		envelope_free(env);
		return fail(why, why_len, "unsupported schema version");
	}
	if (env->pb->message_id == NULL || !uuid_valid(env->pb->message_id)) {
		envelope_free(env);
		return fail(why, why_len, "missing or malformed message id");
	}
	if (env->pb->trace_id != NULL && !trace_id_ok(env->pb->trace_id)) {
		envelope_free(env);
		return fail(why, why_len, "malformed trace id (1 to 64 of A-Z a-z 0-9 . _ : -)");
	}
	env->type = env->pb->type;
	env->message_id = env->pb->message_id;
	env->trace_id =
		env->pb->trace_id && env->pb->trace_id[0] ? env->pb->trace_id : env->pb->message_id;
	env->created_at_us = env->pb->created_at_us;
	env->payload = env->pb->payload.data;
	env->payload_len = env->pb->payload.len;
	return OK;
}

int envelope_unpack_budgeted(struct pb_budget *budget, const void *buf, size_t len,
			     struct envelope *env, char *why, size_t why_len)
{
	pb_budget_init(budget, pb_decode_budget(len));
	if (envelope_unpack_with(buf, len, &budget->allocator, env, why, why_len) == OK)
		return OK;
	if (budget->exceeded)
		snprintf(why, why_len, "an envelope of %zu bytes taking more than %zu decoded", len,
			 budget->limit);
	return ERR;
}

void envelope_free(struct envelope *env)
{
	if (env->pb != NULL)
		claims__envelope__free_unpacked(env->pb, env->allocator);
	memset(env, 0, sizeof(*env));
}

const char *envelope_type_name(Claims__MessageType type)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&claims__message_type__descriptor, (int)type);

	if (v == NULL || type == CLAIMS__MESSAGE_TYPE__MESSAGE_TYPE_UNKNOWN)
		return NULL;
	return v->name;
}
