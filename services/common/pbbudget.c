/*
 * NAME
 *	pbbudget.c - protobuf-c decoding within a byte budget
 */
#include "common/pbbudget.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/xalloc.h"

/* In front of each block: its size, so that a block freed gives its bytes
 * back; as large as the strictest alignment, so that the block after it
 * can hold any type. */
union header {
	size_t size;
	max_align_t align;
};

static void *budget_alloc(void *data, size_t size)
{
	struct pb_budget *budget = data;
	union header *h;

	/* used never exceeds limit: the subtraction cannot wrap. */
	if (size > budget->limit - budget->used ||
	    sizeof(*h) > budget->limit - budget->used - size) {
		budget->exceeded = 1;
		return NULL;
	}
	h = xmalloc(sizeof(*h) + size);
	h->size = sizeof(*h) + size;
	budget->used += h->size;
	if (budget->used > budget->peak)
		budget->peak = budget->used;
	return h + 1;
}

static void budget_free(void *data, void *block)
{
	struct pb_budget *budget = data;
	union header *h;

	if (block == NULL)
		return;
	h = (union header *)block - 1;
	budget->used -= h->size;
	free(h);
}

void pb_budget_init(struct pb_budget *budget, size_t limit)
{
	budget->allocator.alloc = budget_alloc;
	budget->allocator.free = budget_free;
	budget->allocator.allocator_data = budget;
	budget->limit = limit;
	budget->used = 0;
	budget->peak = 0;
	budget->exceeded = 0;
}

/* Each field takes 2 bytes on the wire at least. Decoded, a string or
 * bytes field is its length, a NUL and a block header (16 bytes): under
 * 9 times its wire bytes; an array, 8 bytes per element of at least one
 * byte, and a header. 16 times the wire bytes covers them with room. (An
 * unknown field, kept with a 24-byte record besides its copy, may take
 * 20 times: a sender has no reason to send them by the thousand.) */
#define DECODED_PER_BYTE 16
/* What does not shrink with the wire: structs. A claim or a request is
 * served with at most 99 lines, 99 ClaimLines of some 200 bytes, its few
 * other messages and protobuf-c's scratch space: under 30 KiB. */
#define DECODED_STRUCTS (64 * 1024)

size_t pb_decode_budget(size_t wire_len)
{
	/* The most a message may hold, whatever its size on the wire: one
	 * that can be served (99 lines, every text at the longest the checks
	 * let through) holds under 100 KiB, so that what a batch holds is
	 * bounded by its count of messages, not by what they claim to be. */
	if (wire_len > (PB_DECODED_MAX - DECODED_STRUCTS) / DECODED_PER_BYTE)
		return PB_DECODED_MAX;
	return DECODED_PER_BYTE * wire_len + DECODED_STRUCTS;
}
