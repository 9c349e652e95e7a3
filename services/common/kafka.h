/*
 * NAME
 *	kafka.h - idempotent producer and batch consumer over librdkafka
 *
 * SYNOPSIS
 *	struct kafka_producer *p;
 *	kafka_producer_open(brokers, "intake", &p);
 *	kafka_produce(p, "claims.accepted", key, klen, value, vlen);
 *	kafka_producer_flush(p, 10000);   // every delivery acknowledged?
 *
 *	struct kafka_consumer *c;
 *	kafka_consumer_open(brokers, "reimburse", topics, 1, &c);
 *	kafka_consumer_poll_batch(c, batch, 500, 100, &n);
 *	... process and commit the effects in PostgreSQL ...
 *	kafka_consumer_store(c, batch, n);  // only now may the offsets move
 *	kafka_batch_destroy(batch, n);
 *
 * DESCRIPTION
 *	The producer is idempotent (enable.idempotence=true, acks=all): a
 *	retried send is never written twice to a partition. Failed deliveries
 *	are counted by the delivery callback; kafka_producer_flush() waits
 *	for every outstanding message and reports ERR if any failed since
 *	the previous flush, so the caller (the outbox relay) marks rows sent
 *	only when the broker has them. When the relay stops waiting, it
 *	takes back what librdkafka has not sent yet (a purge of its queue:
 *	kafka_producer_drop_unsent), and waits for the answers to what is in
 *	flight before producing again (kafka_producer_settle).
 *
 *	The consumer never lets librdkafka store offsets by itself
 *	(enable.auto.offset.store=false): the caller stores the offsets of a
 *	batch after its effects are committed, and the stored offsets are
 *	committed in the background and on close. A crash between the two
 *	redelivers the batch, which the idempotent consumers absorb.
 *
 *	Bounded work: a batch holds at most the caller's maximum, and no
 *	new messages are polled before it is handled. When a rebalance
 *	revokes partitions while a batch is being gathered, the gathered
 *	messages are dropped: their new owner will process them.
 *
 * DIAGNOSTICS
 *	All functions return OK or ERR after logging librdkafka's message.
 */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "common/status.h"

/* The largest message the producer sends: its message.max.bytes, left at
 * librdkafka's default (below the broker's own limit); a larger one is
 * refused before it is sent. */
#define KAFKA_MESSAGE_MAX_BYTES 1000000

struct kafka_producer;
struct kafka_consumer;

int kafka_producer_open(const char *brokers, const char *client_id,
			struct kafka_producer **out) MUST_CHECK;
int kafka_produce(struct kafka_producer *p, const char *topic, const void *key, size_t key_len,
		  const void *value, size_t value_len) MUST_CHECK;
/* Why a message can never be produced as it is (too large, a topic that
 * does not exist), from the error that refused it; NULL when trying again
 * later may work (a full queue, a broker away). */
const char *kafka_refusal(int err);

/* Deliveries one by one (the outbox relay): after kafka_producer_track(),
 * each kafka_produce_tracked(p, i, ...) writes its delivery report's
 * error into outcomes[i] (0 delivered; KAFKA_NOT_DELIVERED until then),
 * or at once the error that refused it before sending, and does not fail
 * kafka_producer_flush(); the caller reads outcomes
 * after the flush, then calls kafka_producer_untrack(), or, with messages
 * still in flight, keeps the round tracked until kafka_producer_settle()
 * has heard them. A report that comes after the untrack is dropped: a
 * message's tag names its round. */
#define KAFKA_NOT_DELIVERED (-1000000)
void kafka_producer_track(struct kafka_producer *p, int *outcomes, int count);
int kafka_produce_tracked(struct kafka_producer *p, int index, const char *topic, const void *key,
			  size_t key_len, const void *value, size_t value_len) MUST_CHECK;
void kafka_producer_untrack(struct kafka_producer *p);
int kafka_producer_flush(struct kafka_producer *p, int timeout_ms) MUST_CHECK;
/* Messages produced and not yet answered (queued or in flight), with
 * reports not yet served. */
int kafka_producer_outstanding(struct kafka_producer *p);
/* After a flush that timed out: give up the messages librdkafka has not
 * sent yet (a purge of its queue; their reports say
 * RD_KAFKA_RESP_ERR__PURGE_QUEUE, never a refusal), so that they do not
 * go out later, unseen, while the caller produces them again. Those in
 * flight are left to their answer. Only for a producer whose every
 * message is tracked: the whole queue goes. */
int kafka_producer_drop_unsent(struct kafka_producer *p) MUST_CHECK;
/* Before producing again what an earlier round gave up: wait up to
 * timeout_ms for the answers to its messages still in flight (giving up
 * those that come back for a retry); OK once nothing is outstanding, so
 * that no message is ever in flight twice. A round left tracked hears
 * those answers in its outcomes; untrack it after. */
int kafka_producer_settle(struct kafka_producer *p, int timeout_ms) MUST_CHECK;
/* Nonzero once the producer has met a fatal error (idempotence broken):
 * it will publish nothing more. */
int kafka_producer_fatal(struct kafka_producer *p);
/* For tests: put the producer in the fatal state that broken idempotence
 * leaves it in, which no broker can be made to cause on demand. */
int kafka_producer_fail_for_test(struct kafka_producer *p, const char *reason) MUST_CHECK;
/* For tests: hold (hold=1) or release (0) the messages to partitions
 * 0..partitions-1 of a topic the producer has sent to, in its queue, as a
 * broker that does not answer for them would, the broker running. */
int kafka_producer_hold_for_test(struct kafka_producer *p, const char *topic, int partitions,
				 int hold) MUST_CHECK;
void kafka_producer_close(struct kafka_producer *p);

int kafka_consumer_open(const char *brokers, const char *group_id, const char *const *topics,
			int topic_count, struct kafka_consumer **out) MUST_CHECK;
/* The same; new_group_at_end: a partition the group has never committed
 * an offset for is read from its end, not its start, and that end is
 * committed when it is assigned (once, for good: unlike
 * auto.offset.reset=latest, a later restart does not skip what came
 * since): a consumer that must not act on the topic's past when it is
 * first deployed (notify: members told of a week of old news). */
int kafka_consumer_open_new_at(const char *brokers, const char *group_id, const char *const *topics,
			       int topic_count, int new_group_at_end,
			       struct kafka_consumer **out) MUST_CHECK;
/* Read only what is published from the assignment on, not what the topic
 * already holds (a benchmark waiting for its own messages). Call before
 * the first poll. */
void kafka_consumer_from_end(struct kafka_consumer *c);
/* Gather up to max messages; waits at most timeout_ms for the first one
 * and returns what has arrived once none is immediately ready. */
int kafka_consumer_poll_batch(struct kafka_consumer *c, rd_kafka_message_t **batch, int max,
			      int timeout_ms, int *count) MUST_CHECK;
int kafka_consumer_store(struct kafka_consumer *c, rd_kafka_message_t **batch,
			 int count) MUST_CHECK;
/* Read these messages again: each partition of the batch goes back to
 * its first message in it (messages not handled, offsets not stored). */
int kafka_consumer_rewind(struct kafka_consumer *c, rd_kafka_message_t **batch,
			  int count) MUST_CHECK;
/* Commit the stored offsets now (graceful stop). in_group: a daemon's
 * consumer, one of a group of replicas; offsets of partitions the group
 * has since taken from it (its session timed out) are then not an
 * error: their new owner reads those messages again, and every consumer
 * here handles a message read twice once. A tool's consumer (in_group
 * 0) has no other owner to do it: such a commit fails. */
int kafka_consumer_commit(struct kafka_consumer *c, int in_group) MUST_CHECK;
void kafka_consumer_close(struct kafka_consumer *c);
void kafka_batch_destroy(rd_kafka_message_t **batch, int count);

/* Ask the brokers for the topic's metadata: ERR when no broker answers
 * within timeout_ms or the topic does not exist (tools fail loudly rather
 * than read an empty topic). */
int kafka_consumer_check_topic(struct kafka_consumer *c, const char *topic,
			       int timeout_ms) MUST_CHECK;

/* For every partition of the topic: where the consumer's group will
 * start reading (its committed offset, else, or if older, the earliest
 * kept) and the end now (the offset the next message will get), so that
 * a tool reading "what is there" knows where it starts and stops. Both
 * arrays are malloc'ed, indexed by partition. */
int kafka_consumer_range(struct kafka_consumer *c, const char *topic, int64_t **starts,
			 int64_t **ends, int *count) MUST_CHECK;

/* Partitions currently assigned to this member (for logs and tests). */
int kafka_consumer_assigned(struct kafka_consumer *c);

#endif
