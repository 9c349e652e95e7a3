/*
 * NAME
 *	keyset.c - a bounded set of (topic, key) pairs
 */
#include "common/keyset.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

void keyset_init(struct keyset *s, int max)
{
	memset(s, 0, sizeof(*s));
	s->max = max;
}

static int compare(const char *item, const char *topic, const char *key)
{
	int c = strcmp(item, topic);

	return c != 0 ? c : strcmp(item + strlen(item) + 1, key);
}

/* Where the pair is, or would go: *found says which. */
static int position(const struct keyset *s, const char *topic, const char *key, int *found)
{
	int lo = 0, hi = s->count;

	*found = 0;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2, c = compare(s->items[mid], topic, key);

		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int keyset_has(const struct keyset *s, const char *topic, const char *key)
{
	int found;

	position(s, topic, key, &found);
	return found;
}

int keyset_add(struct keyset *s, const char *topic, const char *key)
{
	size_t topic_len = strlen(topic), key_len = strlen(key);
	int found, at = position(s, topic, key, &found);
	char *item;

	if (found)
		return 0;
	if (s->count == s->max)
		return -1;
	if (s->count == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->items = xrealloc(s->items, (size_t)s->cap * sizeof(*s->items));
	}
	item = xmalloc(topic_len + key_len + 2);
	memcpy(item, topic, topic_len + 1);
	memcpy(item + topic_len + 1, key, key_len + 1);
	memmove(s->items + at + 1, s->items + at, (size_t)(s->count - at) * sizeof(*s->items));
	s->items[at] = item;
	s->count++;
	return 1;
}

void keyset_remove(struct keyset *s, const char *topic, const char *key)
{
	int found, at = position(s, topic, key, &found);

	if (!found)
		return;
	free(s->items[at]);
	memmove(s->items + at, s->items + at + 1, (size_t)(s->count - at - 1) * sizeof(*s->items));
	s->count--;
}

void keyset_clear(struct keyset *s)
{
	for (int i = 0; i < s->count; i++)
		free(s->items[i]);
	s->count = 0;
}

void keyset_arrays(const struct keyset *s, struct pgarray *topics, struct pgarray *keys)
{
	for (int i = 0; i < s->count; i++) {
		pgarray_text(topics, s->items[i]);
		pgarray_text(keys, s->items[i] + strlen(s->items[i]) + 1);
	}
}

void keyset_free(struct keyset *s)
{
	keyset_clear(s);
	free(s->items);
	s->items = NULL;
	s->cap = 0;
}
