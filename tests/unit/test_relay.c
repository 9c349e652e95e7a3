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
 *	A broker that answers later than the pass's wait (librdkafka's mock
 *	cluster, in this process): what is in flight is not given up, its
 *	late answers are heard in the round still tracked, and what is
 *	produced again is only what was not delivered: each message is
 *	written once, the idempotent producer none the worse for the gap
 *	the purge left in its sequence numbers.
 *
 *	The relay's thread waits a back-off only after a pass that failed
 *	outright or got nothing off the queue: not after one that published
 *	some events and left a few undelivered.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
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

#define STALL_TOPIC	 "relay.stall"
#define STALL_PARTITIONS 12
#define STALL_COUNT	 240

/* Messages on the topic, from its partitions' watermarks; -1 unknown. */
static long written(const char *brokers)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[256];
	rd_kafka_t *rk;
	long total = 0;

	if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
		    RD_KAFKA_CONF_OK ||
	    (rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))) == NULL) {
		rd_kafka_conf_destroy(conf);
		return -1;
	}
	for (int i = 0; i < STALL_PARTITIONS && total >= 0; i++) {
		int64_t low, high;

		if (rd_kafka_query_watermark_offsets(rk, STALL_TOPIC, i, &low, &high, 10000))
			total = -1;
		else
			total += (long)(high - low);
	}
	rd_kafka_destroy(rk);
	return total;
}

static int produce_keyed(struct kafka_producer *p, int index, int n)
{
	char key[16];

	snprintf(key, sizeof(key), "k%d", n);
	return kafka_produce_tracked(p, index, STALL_TOPIC, key, strlen(key), "v", 1);
}

/* Round 1 in a stall, its wait over: some given up, some in flight, heard
 * late by the settle. Round 2, the broker back: what was not delivered. */
static void stalled_rounds(rd_kafka_mock_cluster_t *mc, struct kafka_producer *p)
{
	static int first[STALL_COUNT], again[STALL_COUNT];
	int given_up = 0, in_flight = 0, left = 0;

	CHECK(rd_kafka_mock_broker_set_rtt(mc, 1, 3000) == RD_KAFKA_RESP_ERR_NO_ERROR);
	kafka_producer_track(p, first, STALL_COUNT);
	for (int i = 0; i < STALL_COUNT; i++)
		CHECK(produce_keyed(p, i, i) == OK);
	CHECK(kafka_producer_flush(p, 500) != OK);
	CHECK(kafka_producer_drop_unsent(p) == OK);
	for (int i = 0; i < STALL_COUNT; i++) {
		given_up += first[i] == RD_KAFKA_RESP_ERR__PURGE_QUEUE;
		in_flight += first[i] == KAFKA_NOT_DELIVERED;
	}
	CHECK(given_up > 0);
	CHECK(in_flight > 0);
	CHECK_EQ_I64(given_up + in_flight, STALL_COUNT);
	CHECK(kafka_producer_outstanding(p) > 0);
	CHECK(kafka_producer_settle(p, 100) != OK); /* unanswered yet */
	CHECK(kafka_producer_settle(p, 15000) == OK);
	for (int i = 0; i < STALL_COUNT; i++)
		if (first[i] != RD_KAFKA_RESP_ERR__PURGE_QUEUE)
			CHECK_EQ_I64(first[i], 0); /* delivered, heard late */
	kafka_producer_untrack(p);

	CHECK(rd_kafka_mock_broker_set_rtt(mc, 1, 0) == RD_KAFKA_RESP_ERR_NO_ERROR);
	kafka_producer_track(p, again, STALL_COUNT);
	for (int i = 0; i < STALL_COUNT; i++)
		if (first[i] != 0)
			CHECK(produce_keyed(p, left++, i) == OK);
	CHECK_EQ_I64(left, given_up);
	CHECK(kafka_producer_flush(p, 15000) == OK);
	for (int j = 0; j < left; j++)
		CHECK_EQ_I64(again[j], 0);
	kafka_producer_untrack(p);
}

static void test_stalled_broker_heard_late(void)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_mock_cluster_t *mc;
	struct kafka_producer *p;
	const char *brokers;
	char errstr[256];
	rd_kafka_t *host;
	int warm[1];

	/* The mock's own handle: quiet (it has no brokers of its own). */
	REQUIRE(rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr)) ==
		RD_KAFKA_CONF_OK);
	host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	REQUIRE(host != NULL);
	mc = rd_kafka_mock_cluster_new(host, 1);
	REQUIRE(mc != NULL);
	brokers = rd_kafka_mock_cluster_bootstraps(mc);
	CHECK(rd_kafka_mock_topic_create(mc, STALL_TOPIC, STALL_PARTITIONS, 1) ==
	      RD_KAFKA_RESP_ERR_NO_ERROR);
	if (kafka_producer_open(brokers, "test-relay", &p) == OK) {
		/* Connected, the topic's partitions known, before the stall. */
		kafka_producer_track(p, warm, 1);
		CHECK(produce_keyed(p, 0, -1) == OK);
		CHECK(kafka_producer_flush(p, 10000) == OK);
		kafka_producer_untrack(p);
		stalled_rounds(mc, p);
		CHECK_EQ_I64(kafka_producer_fatal(p), 0);
		kafka_producer_close(p);
		CHECK_EQ_I64(written(brokers), STALL_COUNT + 1); /* each once */
	} else {
		CHECK(!"producer opened on the mock cluster");
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(host);
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
	RUN(test_stalled_broker_heard_late);
	return test_report();
}
