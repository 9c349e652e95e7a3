/*
 * NAME
 *	worker.h - the consume / commit / acknowledge loop of Kafka workers
 *
 * SYNOPSIS
 *	static int handle(void *ctx, struct pg *db, rd_kafka_message_t **m, int n);
 *	struct worker_config wc = { .brokers = ..., .dsn = ..., .group = "reimburse",
 *		.topic = "claims.accepted", .name = "reimburse", .batch = 500,
 *		.handle = handle, .ctx = &state };
 *	worker_open(&wc, &w);
 *	while (!stopping) worker_step(w);
 *	worker_drain(w);
 *
 * DESCRIPTION
 *	One place for the rule that makes "nothing lost, nothing twice" hold:
 *
 *	1. poll a batch (at most `batch` messages: bounded work in flight);
 *	2. BEGIN; handle(batch) writes its effects and outbox events; COMMIT;
 *	3. only then store the batch's offsets (committed to Kafka shortly
 *	   after, and on close);
 *	4. wake the outbox relay, which publishes the committed events from
 *	   its own thread and connection while the loop goes on to the next
 *	   batch (a relay pass that gets nothing through, Kafka away, is
 *	   tried again after a back-off; the events wait in the outbox; one
 *	   that publishes some and leaves a few undelivered goes on at the
 *	   normal pace, trying those again each pass). worker_drain() commits
 *	   the offsets, leaves the group, stops the thread and runs a last
 *	   relay, bounded in time, from the caller's thread.
 *
 *	A crash anywhere redelivers at most the uncommitted offsets; the
 *	handlers are idempotent (unique keys), so redelivery changes nothing.
 *
 *	Failures: when the transaction fails with the connection intact
 *	(a data error), the batch is retried one message per transaction; a
 *	message that fails alone is a poison message and goes, whole, to
 *	<topic>.dlq with PostgreSQL's reason, through the outbox. When the
 *	connection is lost, the batch is tried again after reconnecting, so
 *	an outage never sends good messages to the dead-letter topic: the
 *	consumer seeks back to the batch and reads it again at the next
 *	steps, polling all along (so that it keeps its place in the group).
 *
 *	Handlers call worker_dead_letter() themselves for messages they can
 *	refuse without the database (undecodable bytes, unknown type).
 *
 * DIAGNOSTICS
 *	worker_step() returns ERR when no progress was possible (the daemon
 *	skeleton backs off and, past a limit, exits for its supervisor).
 */
#ifndef COMMON_WORKER_H
#define COMMON_WORKER_H

#include "common/kafka.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/status.h"

typedef int (*worker_handle_fn)(void *ctx, struct pg *db, rd_kafka_message_t **batch, int count);
typedef int (*worker_prepare_fn)(void *ctx, struct pg *db);
typedef void (*worker_committed_fn)(void *ctx);

struct worker_config {
	const char *brokers;
	const char *dsn;
	const char *group;
	const char *topic;
	/* optional, NULL-terminated: further topics the group reads, each
	 * with its own <topic>.dlq (a daemon that follows several flows) */
	const char *const *more_topics;
	int new_group_at_end;	   /* kafka_consumer_open_new_at() */
	const char *name;	   /* the daemon, for dead letters and metrics */
	int batch;		   /* messages per transaction */
	int poll_ms;		   /* wait for the first message of a batch */
	worker_prepare_fn prepare; /* prepares statements on the connection */
	worker_handle_fn handle;
	worker_committed_fn committed; /* optional: after each handle()'s commit */
	void *ctx;
};

/* The topics one worker may read: its topic and more_topics. */
#define WORKER_MAX_TOPICS 4

struct worker;

int worker_open(const struct worker_config *config, struct worker **out) MUST_CHECK;
int worker_step(struct worker *w) MUST_CHECK;
int worker_drain(struct worker *w) MUST_CHECK;
void worker_close(struct worker *w);
struct pg *worker_db(struct worker *w);
/* For /health: NULL, or why the worker cannot work (its database away,
 * its producer broken for good). */
const char *worker_health(struct worker *w);
struct kafka_producer *worker_producer(struct worker *w);
/* Run the relay from the caller's thread until nothing is pending, no
 * pass starting after 5 s (each may then wait its flush timeout); only
 * once the relay's thread is stopped (worker_drain does both). */
int worker_relay(struct worker *w) MUST_CHECK;
/* Tell the relay's thread that events were committed (the daemons call
 * it after work outside the loop: socket submissions). */
void worker_relay_kick(struct worker *w);
/* Whether the relay waits a back-off (0.5 s, doubling up to 30 s) before
 * its next pass, after one that returned status: when the pass failed
 * outright (the database, a producer broken for good), or took nothing
 * off the queue while events stayed undelivered (Kafka away or slow,
 * or only stuck events pending). A pass that published some and left a
 * few undelivered does not: one stuck event must not slow every topic. */
int worker_relay_backs_off(int status, const struct outbox_pass *pass);

/* Inside the handler's transaction: send the message to <topic>.dlq. */
/* The most of a message's bytes a dead letter keeps (beyond: its start). */
#define WORKER_DEAD_LETTER_MAX_VALUE (256 * 1024)
int worker_dead_letter(struct pg *db, const char *consumer, const rd_kafka_message_t *msg,
		       const char *reason) MUST_CHECK;

/* 1 when the last failure on db was an outage rather than bad data. */
int worker_db_outage(struct pg *db);

#endif
