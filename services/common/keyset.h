/*
 * NAME
 *	keyset.h - a bounded set of (topic, key) pairs
 *
 * SYNOPSIS
 *	struct keyset held;
 *	keyset_init(&held, 4096);
 *	keyset_add(&held, "claims.accepted", "42");   // 1 added, 0 there, -1 full
 *	keyset_has(&held, "claims.accepted", "42");   // 1
 *	keyset_arrays(&held, &topics, &keys);        // for unnest($2, $3)
 *	keyset_remove(&held, "claims.accepted", "42");
 *	keyset_free(&held);
 *
 * DESCRIPTION
 *	The outbox relay's keys held back (Kafka did not take their events):
 *	each pair once, sorted, at most `max` of them, so that a key with
 *	many events counts once and a lookup costs a binary search.
 */
#ifndef COMMON_KEYSET_H
#define COMMON_KEYSET_H

#include "common/pgarray.h"

struct keyset {
	char **items; /* "topic\0key\0", sorted by topic then key */
	int count, cap, max;
};

void keyset_init(struct keyset *s, int max);
int keyset_has(const struct keyset *s, const char *topic, const char *key);
int keyset_add(struct keyset *s, const char *topic, const char *key);
void keyset_remove(struct keyset *s, const char *topic, const char *key);
void keyset_clear(struct keyset *s);
/* The pairs as two array literals, element i of each one pair. */
void keyset_arrays(const struct keyset *s, struct pgarray *topics, struct pgarray *keys);
void keyset_free(struct keyset *s);

#endif
