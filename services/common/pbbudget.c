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
