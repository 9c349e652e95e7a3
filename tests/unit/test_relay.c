/*
 * NAME
 *	test_relay.c - what the relay's producer does with the messages of a
 *	pass that timed out, and when the relay's thread backs off
 *
 * DESCRIPTION
 *	No broker: the producer points at a closed port, so every message
 *	stays in librdkafka's queue, unsent, as with a broker that stalls.
 *	A pass whose wait is over gives those messages up: their reports say
 *	so (__PURGE_QUEUE), which is never a refusal, and nothing of theirs
 *	is left to go out later beside the copies the next pass produces.
 *	A report of an earlier pass never lands in a later pass's outcomes.
 *
 *	The relay's thread waits a back-off only after a pass that failed
 *	outright or got nothing off the queue: not after one that published
 *	some events and left a few undelivered.
 */
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "common/kafka.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/worker.h"
#include "test.h"

/* Port 9 (discard) on loopback: refused at once, nothing listens there. */
#define NO_BROKER "127.0.0.1:9"
#define TOPIC	  "claims.accepted"

static int produce_one(struct kafka_producer *p, int index)
{
	return kafka_produce_tracked(p, index, TOPIC, "key", 3, "value", 5);
}

static void test_unsent_given_up_not_refused(void)
{
	struct kafka_producer *p;
	int outcome[3];

	REQUIRE(kafka_producer_open(NO_BROKER, "test-relay", &p) == OK);
	kafka_producer_track(p, outcome, 3);
	for (int i = 0; i < 3; i++)
		CHECK(produce_one(p, i) == OK);
	CHECK(kafka_producer_flush(p, 200) != OK); /* nobody answers */
	CHECK(kafka_producer_drop_unsent(p) == OK);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_I64(outcome[i], RD_KAFKA_RESP_ERR__PURGE_QUEUE);
		CHECK(kafka_refusal(outcome[i]) == NULL);
	}
	kafka_producer_untrack(p);
	/* Nothing was in flight: nothing is left to wait for. */
	CHECK(kafka_producer_settle(p, 200) == OK);
	kafka_producer_close(p);
}

/* A round given up without a purge (its pass ended): the next pass's
 * settle takes its messages out of the queue, and their reports, of a
 * round that is over, are written nowhere. */
static void test_settle_gives_up_an_earlier_round(void)
{
	struct kafka_producer *p;
	int old[1], current[1];

	REQUIRE(kafka_producer_open(NO_BROKER, "test-relay", &p) == OK);
	kafka_producer_track(p, old, 1);
	CHECK(produce_one(p, 0) == OK);
	kafka_producer_untrack(p);
	CHECK(kafka_producer_settle(p, 500) == OK);
	CHECK_EQ_I64(old[0], KAFKA_NOT_DELIVERED);

	/* Two rounds in the queue at once: each report goes to its own. */
	kafka_producer_track(p, old, 1);
	CHECK(produce_one(p, 0) == OK);
	kafka_producer_untrack(p);
	kafka_producer_track(p, current, 1);
	CHECK(produce_one(p, 0) == OK);
	CHECK(kafka_producer_drop_unsent(p) == OK);
	CHECK_EQ_I64(current[0], RD_KAFKA_RESP_ERR__PURGE_QUEUE);
	CHECK_EQ_I64(old[0], KAFKA_NOT_DELIVERED);
	kafka_producer_untrack(p);
	kafka_producer_close(p);
}

static struct outbox_pass pass_of(int published, int refused, int dequeued, int undelivered)
{
	struct outbox_pass pass;

	memset(&pass, 0, sizeof(pass));
	pass.fetched = dequeued + undelivered;
	pass.published = published;
	pass.refused = refused;
	pass.dequeued = dequeued;
	pass.undelivered = undelivered;
	return pass;
}

static void test_back_off_decision(void)
{
	struct outbox_pass pass;

	/* Everything went out, or nothing was pending: the normal pace. */
	pass = pass_of(2000, 0, 2000, 0);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	pass = pass_of(0, 0, 0, 0);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	/* Another relay's turn: its own, shorter, wait. */
	pass = pass_of(0, 0, 0, 0);
	pass.not_our_turn = 1;
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	/* One stuck event among published ones: the others must not wait. */
	pass = pass_of(1999, 0, 1999, 1);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	/* Set aside (refused) or stale rows are progress too. */
	pass = pass_of(0, 1, 1, 1);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	/* The same stuck events again, nothing else: back off. */
	pass = pass_of(0, 0, 0, 1);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 1);
	/* Nothing tried, an earlier pass's messages still in flight. */
	pass = pass_of(0, 0, 0, 0);
	pass.undelivered = 1;
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 1);
	/* Failed outright (the database, a producer broken for good). */
	pass = pass_of(0, 0, 0, 0);
	CHECK_EQ_I64(worker_relay_backs_off(ERR, &pass), 1);
}

int main(void)
{
	if (log_init("test_relay") != OK)
		return 2;
	RUN(test_back_off_decision);
	RUN(test_unsent_given_up_not_refused);
	RUN(test_settle_gives_up_an_earlier_round);
	return test_report();
}
