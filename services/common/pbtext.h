/*
 * NAME
 *	pbtext.h - the text fields of protobuf bytes, read for NUL bytes
 *
 * SYNOPSIS
 *	const char *field;
 *	if (pb_text_nul(&claims__claim_submitted__descriptor, data, len,
 *			&field) != 0)
 *		... refuse: field (or "(malformed)") holds a NUL byte ...
 *
 * DESCRIPTION
 *	protobuf-c copies a string field with its length and a NUL after
 *	it, and C reads it up to its first NUL: an external id "X-1\0a"
 *	was checked, stored and deduplicated as "X-1" (two senders' ids
 *	merged), and digests and logs saw the first part only. No valid
 *	text holds a NUL byte (PostgreSQL's text cannot), so a message that
 *	has one in any string field is refused whole, as one that does not
 *	decode.
 *
 *	The bytes are walked with the message's descriptor, sub-messages
 *	included (32 levels at most); fields the descriptor does not know,
 *	and bytes fields, are not read. Meant for bytes protobuf-c has just
 *	decoded, but safe on any: what is not well formed is said so.
 *
 * DIAGNOSTICS
 *	0 when no string field holds a NUL; 1 when one does, *field naming
 *	it (the descriptor's name of the field); -1 when the bytes are not a
 *	well-formed message (*field "(malformed)").
 */
#ifndef COMMON_PBTEXT_H
#define COMMON_PBTEXT_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

int pb_text_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
		const char **field);

#endif
