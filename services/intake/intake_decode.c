/*
 * NAME
 *	intake_decode.c - a submission decoded within a memory budget
 *
 * DESCRIPTION
 *	The size limit of a message (1 MiB, ENVELOPE_MAX_BYTES) bounds its
 *	bytes, not what protobuf-c makes of them: an empty `lines` entry
 *	is 2 bytes on the wire and a ClaimLine of some 200 bytes decoded,
 *	so 1 MiB of them became 524,280 lines, over 100 MB held before any
 *	check ran (the 99-line limit is a check), and a batch of them, all
 *	decoded before any is decided, more than the pod's 256 MiB: killed,
 *	restarted, the same batch read again, for good.
 *
 *	A submission's envelope (envelope_unpack_budgeted()), then its
 *	claim, are decoded with one byte budget (common/pbbudget.h) of
 *	pb_decode_budget() of the message's size: a valid claim fits with
 *	room; past it the decode fails, and
 *	the message goes to the DLQ (Kafka) or is answered BAD_ENVELOPE or
 *	BAD_PAYLOAD (socket), like any that does not decode, and so does a
 *	claim with a NUL byte in a text field (common/pbtext.h). What a batch
 *	holds decoded is counted too (intake.c). No I/O: the unit tests and
 *	the fuzz target include this file.
 */
#include <stdio.h>

#include "common/pbtext.h"
#include "intake/intake.h"

int intake_decode_claim(struct pb_budget *budget, const struct envelope *env,
			Claims__ClaimSubmitted **claim, char *why, size_t why_len)
{
	const char *field;

	*claim =
		claims__claim_submitted__unpack(&budget->allocator, env->payload_len, env->payload);
	if (*claim != NULL && pb_text_nul(&claims__claim_submitted__descriptor, env->payload,
					  env->payload_len, &field) != 0) {
		/* C would read the text to its NUL: "X-1\0a" taken for "X-1". */
		snprintf(why, why_len, "ClaimSubmitted: text field %s holds a NUL byte", field);
		claims__claim_submitted__free_unpacked(*claim, &budget->allocator);
		*claim = NULL;
		return ERR;
	}
	if (*claim != NULL)
		return OK;
	if (budget->exceeded)
		snprintf(why, why_len,
			 "a ClaimSubmitted of %zu bytes taking more than %zu decoded with its"
			 " envelope (at most %d lines)",
			 env->payload_len, budget->limit, INTAKE_MAX_LINES);
	else
		snprintf(why, why_len, "not a protobuf ClaimSubmitted");
	return ERR;
}
