/*
 * NAME
 *	envelope.h - wrap and unwrap the protobuf envelope of every message
 *
 * SYNOPSIS
 *	uint8_t *buf; size_t len; char id[UUID_STR_LEN];
 *	envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED, &accepted.base,
 *		      trace_id, "intake", id, &buf, &len);
 *
 *	struct envelope env;
 *	char why[160];
 *	if (envelope_unpack(bytes, n, &env, why, sizeof(why)) != OK)
 *		... dead-letter the bytes with reason `why` ...
 *	msg = claims__claim_submitted__unpack(NULL, env.payload_len, env.payload);
 *	envelope_free(&env);
 *
 * DESCRIPTION
 *	envelope_unpack() checks what every consumer would otherwise check:
 *	the size limit, the protobuf encoding, no NUL byte in a text field
 *	(common/pbtext.h), a known message type, a supported schema
 *	version, a message id. The payload pointer refers
 *	into the decoded envelope and lives until envelope_free().
 *
 *	An envelope without a trace id starts a new trace: the message id
 *	becomes the trace id.
 *
 * DIAGNOSTICS
 *	ERR with a one-line reason (no logging: bad input is the sender's
 *	problem and the caller decides where the reason goes).
 */
#ifndef COMMON_ENVELOPE_H
#define COMMON_ENVELOPE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/pbbudget.h"
#include "common/status.h"
#include "common/util.h"
#include "proto/envelope.pb-c.h"

#define ENVELOPE_SCHEMA_VERSION 1
#define ENVELOPE_MAX_BYTES	(1024 * 1024)
#define ENVELOPE_MAX_TRACE_ID	64

struct envelope {
	Claims__Envelope *pb;
	ProtobufCAllocator *allocator; /* what decoded pb, and frees it (NULL: malloc) */
	Claims__MessageType type;
	const char *message_id;
	const char *trace_id;
	int64_t created_at_us;
	const uint8_t *payload;
	size_t payload_len;
};

int envelope_pack(Claims__MessageType type, const ProtobufCMessage *payload, const char *trace_id,
		  const char *producer, char message_id[UUID_STR_LEN], uint8_t **out,
		  size_t *out_len) MUST_CHECK;
/* The same with a message id chosen by the caller (uuid_from_name()). */
int envelope_pack_as(Claims__MessageType type, const ProtobufCMessage *payload,
		     const char *trace_id, const char *producer, const char *message_id,
		     uint8_t **out, size_t *out_len) MUST_CHECK;
int envelope_unpack(const void *buf, size_t len, struct envelope *env, char *why,
		    size_t why_len) MUST_CHECK;
/* The same, decoded with the caller's allocator (a byte budget for
 * untrusted input: common/pbbudget.h), which envelope_free() then uses. */
int envelope_unpack_with(const void *buf, size_t len, ProtobufCAllocator *allocator,
			 struct envelope *env, char *why, size_t why_len) MUST_CHECK;
/* The same within a budget set to pb_decode_budget(len) (common/
 * pbbudget.h), which the payload's decode then shares: for a message
 * from outside (a submission, a professional's request). The budget must
 * outlive env, which is freed through it. */
int envelope_unpack_budgeted(struct pb_budget *budget, const void *buf, size_t len,
			     struct envelope *env, char *why, size_t why_len) MUST_CHECK;
void envelope_free(struct envelope *env);

const char *envelope_type_name(Claims__MessageType type);

#endif
