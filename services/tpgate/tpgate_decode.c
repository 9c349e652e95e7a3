/*
 * NAME
 *	tpgate_decode.c - a professional's request decoded within a memory
 *	budget
 *
 * DESCRIPTION
 *	The size limit of the socket (CLAIMS_TP_MAX_REQUEST_BYTES) bounds
 *	a request's bytes, not what protobuf-c makes of them: an empty
 *	`lines` entry is 2 bytes on the wire and a ClaimLine of some 200
 *	bytes decoded, so 64 KiB of them became 32,000 lines, 6.8 MB, and
 *	the 64 requests of a batch, decoded before any is admitted (no
 *	session needed), held some 435 MB in a pod limited to 256 MiB.
 *
 *	A request's envelope (envelope_unpack_budgeted()), then its payload,
 *	are decoded with one byte budget (common/pbbudget.h) of
 *	pb_decode_budget() of the frame's size; past it the decode fails and the request is answered
 *	BAD_ENVELOPE or BAD_PAYLOAD. At most PB_DECODED_MAX a request,
 *	whatever CLAIMS_TP_MAX_REQUEST_BYTES: a full batch (TP_BATCH
 *	requests held at once) stays within 64 MiB of the pod's 256 MiB.
 *	No I/O: the unit tests and the fuzz target include this file and
 *	decode as the front door does.
 *
 *	Also what an error code may be (tp_error_code_ok()), for the codes
 *	a worker's ErrorReply brings back to the client and to the metrics.
 */
#include <stdio.h>

#include "common/pbtext.h"
#include "tpgate/tpgate.h"

const ProtobufCMessageDescriptor *tp_payload_descriptor(Claims__MessageType type)
{
	switch (type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return &claims__session_open_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		return &claims__eligibility_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		return &claims__quote_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		return &claims__invoice_request__descriptor;
	case CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST:
		return &claims__invoice_status_request__descriptor;
	default:
		return NULL;
	}
}

ProtobufCMessage *tp_decode_payload(struct pb_budget *budget, const struct envelope *env, char *why,
				    size_t why_len)
{
	const ProtobufCMessageDescriptor *desc = tp_payload_descriptor(env->type);
	ProtobufCMessage *m;
	const char *field;

	if (desc == NULL) {
		snprintf(why, why_len, "no request is of this type");
		return NULL;
	}
	m = protobuf_c_message_unpack(desc, &budget->allocator, env->payload_len, env->payload);
	if (m == NULL && budget->exceeded)
		snprintf(why, why_len, "a %s of %zu bytes taking more than %zu decoded",
			 desc->short_name, env->payload_len, budget->limit);
	else if (m == NULL)
		snprintf(why, why_len, "payload is not a %s", desc->short_name);
	else if (pb_text_nul(desc, env->payload, env->payload_len, &field) != 0) {
		snprintf(why, why_len, "%s: text field %s holds a NUL byte", desc->short_name,
			 field);
		protobuf_c_message_free_unpacked(m, &budget->allocator);
		m = NULL;
	}
	return m;
}

int tp_error_code_ok(const char *code)
{
	size_t n = 0;

	for (; code[n] != '\0'; n++)
		if (!((code[n] >= 'A' && code[n] <= 'Z') || code[n] == '_'))
			return 0;
	return n > 0 && n <= TP_ERROR_CODE_MAX;
}
