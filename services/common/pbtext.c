/*
 * NAME
 *	pbtext.c - the text fields of protobuf bytes, read for NUL bytes
 */
#include "common/pbtext.h"

#include <string.h>

#define PB_TEXT_MAX_DEPTH 32

/* A varint at *at (advanced past it), or -1 when it runs past the end
 * or past 10 bytes. */
static int read_varint(const uint8_t *data, size_t len, size_t *at, uint64_t *value)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 70 && *at < len; shift += 7) {
		uint8_t b = data[(*at)++];

		v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*value = v;
			return 0;
		}
	}
	return -1;
}

static int walk(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth,
		const char **field)
{
	size_t at = 0;

	if (depth > PB_TEXT_MAX_DEPTH) {
		*field = "(malformed)";
		return -1;
	}
	while (at < len) {
		const ProtobufCFieldDescriptor *f;
		uint64_t key, size;
		int found;

		if (read_varint(data, len, &at, &key) != 0 || key >> 3 > UINT32_MAX)
			goto malformed;
		switch (key & 7) {
		case 0:
			if (read_varint(data, len, &at, &size) != 0)
				goto malformed;
			continue;
		case 1:
			size = 8;
			break;
		case 5:
			size = 4;
			break;
		case 2:
			if (read_varint(data, len, &at, &size) != 0)
				goto malformed;
			break;
		default: /* groups: none in this project's messages */
			goto malformed;
		}
		if (size > len - at)
			goto malformed;
		f = (key & 7) == 2
			    ? protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3))
			    : NULL;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING &&
		    memchr(data + at, '\0', (size_t)size) != NULL) {
			*field = f->name;
			return 1;
		}
		if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE &&
		    (found = walk(f->descriptor, data + at, (size_t)size, depth + 1, field)) != 0)
			return found;
		at += (size_t)size;
	}
	return 0;
malformed:
	*field = "(malformed)";
	return -1;
}

int pb_text_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
		const char **field)
{
	*field = NULL;
	return walk(desc, data, len, 0, field);
}
