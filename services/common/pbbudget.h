/*
 * NAME
 *	pbbudget.h - protobuf-c decoding within a byte budget
 *
 * SYNOPSIS
 *	struct pb_budget budget;
 *	pb_budget_init(&budget, 256 * 1024);
 *	m = protobuf_c_message_unpack(desc, &budget.allocator, len, data);
 *	if (m == NULL && budget.exceeded)
 *		... too large once decoded ...
 *	protobuf_c_message_free_unpacked(m, &budget.allocator);
 *
 * DESCRIPTION
 *	Bytes on the wire say little of the memory they take decoded: an
 *	empty sub-message is 2 bytes on the wire and a whole C struct in
 *	memory (a ClaimLine, some 200 bytes: a hundred times more). A
 *	decoder that takes whatever it is sent can be made to hold far more
 *	than the size limits of its sockets suggest.
 *
 *	The allocator counts the bytes it holds, each block's header (its
 *	size, for the free) included, and refuses a block that would take
 *	them past the limit: protobuf-c then fails the unpack (NULL) and
 *	frees what it had allocated, and exceeded says why it failed. What
 *	is held counts, not what was ever allocated: protobuf-c's scratch
 *	memory, freed before it returns, counts only while it lives.
 *
 *	One budget may serve several messages (an envelope and its
 *	payload): their bytes add up. It must not move, and must outlive
 *	them: allocator points to it, and frees through it.
 */
#ifndef COMMON_PBBUDGET_H
#define COMMON_PBBUDGET_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct pb_budget {
	ProtobufCAllocator allocator; /* give &budget.allocator to protobuf-c */
	size_t limit;		      /* bytes that may be held at once */
	size_t used;		      /* bytes held now */
	size_t peak;		      /* the most held at once */
	int exceeded;		      /* a block was refused */
};

void pb_budget_init(struct pb_budget *budget, size_t limit);
/* The budget of a message of wire_len bytes, envelope and payload
 * together: what a valid claim, quote or invoice of at most 99 lines can
 * take decoded, with room, and never more than PB_DECODED_MAX. */
size_t pb_decode_budget(size_t wire_len);

#define PB_DECODED_MAX (1024 * 1024)

#endif
