/*
 * NAME
 *	envelope_frame.h - a message's bytes as a sender puts them on the
 *	wire: an Envelope of a type around payload bytes
 *
 * DESCRIPTION
 *	For the unit tests of the decoders (intake's submissions, the
 *	front door's requests), which need payloads no client would build:
 *	bytes made by hand, too large, or holding a NUL. The frame is
 *	malloc'ed: the caller frees it.
 */
#ifndef TESTS_ENVELOPE_FRAME_H
#define TESTS_ENVELOPE_FRAME_H

#include <stdint.h>

#include "common/envelope.h"
#include "common/util.h"
#include "common/xalloc.h"

static inline uint8_t *envelope_frame(Claims__MessageType type, const uint8_t *payload,
				      size_t payload_len, size_t *len)
{
	Claims__Envelope e = CLAIMS__ENVELOPE__INIT;
	char id[UUID_STR_LEN];
	uint8_t *buf;

	uuid_v7(id);
	e.has_type = e.has_created_at_us = e.has_schema_version = e.has_payload = 1;
	e.type = type;
	e.message_id = id;
	e.created_at_us = clock_now_us();
	e.schema_version = ENVELOPE_SCHEMA_VERSION;
	e.payload.data = (uint8_t *)payload;
	e.payload.len = payload_len;
	*len = claims__envelope__get_packed_size(&e);
	buf = xmalloc(*len);
	claims__envelope__pack(&e, buf);
	return buf;
}

#endif
