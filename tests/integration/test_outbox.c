/*
 * NAME
 *	test_outbox.c - the relay publishes exactly the committed outbox rows
 *
 * DESCRIPTION
 *	Two transactions each add an event: one commits, one rolls back. The
 *	relay then publishes; a consumer reading the topic from the start
 *	must find the committed event once, never the rolled-back one, and
 *	the committed event must be off the queue. Then: the turn between
 *	relays, the queue kept in step with the outbox (events set aside,
 *	deleted, put back, put back while a relay reads it), a backlog drained, one dead letter per message, a
 *	producer in a fatal state failing its pass and losing nothing, a
 *	COMMIT that PostgreSQL turned into a ROLLBACK never taken for a
 *	success, and an event that cannot be delivered for now holding up
 *	neither the others nor the relay's pace, then going out once, and more
 *	of them than a pass takes leaving the others' way free. Last,
 *	which database failures are outages (worker_db_outage()).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "itest.h"
#include "proto/member.pb-c.h"
#include "test.h"

#define TOPIC "contracts.changed"

static int add_event(struct pg *db, const char *change, int commit)
{
	Claims__ContractChanged msg = CLAIMS__CONTRACT_CHANGED__INIT;

	msg.change = (char *)change;
	if (pg_begin(db) != OK)
		return ERR;
	if (outbox_add(db, TOPIC, "7", CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED, &msg.base, NULL,
		       "test") != OK) {
		pg_rollback(db);
		return ERR;
	}
	if (!commit) {
		pg_rollback(db);
		return OK;
	}
	return pg_commit(db);
}

/* Count the events of the topic whose change field equals marker. */
static void count_markers(const char *committed, const char *rolled_back, int *n_committed,
			  int *n_rolled_back)
{
	const char *topics[1] = {TOPIC};
	struct kafka_consumer *c;
	rd_kafka_message_t *batch[256];
	char group[80], gid[UUID_STR_LEN];
	int idle = 0;

	*n_committed = *n_rolled_back = 0;
	uuid_v7(gid);
	snprintf(group, sizeof(group), "test-outbox-%s", gid);
	if (kafka_consumer_open(itest_brokers(), group, topics, 1, &c) != OK)
		return;
	/* Read until the committed marker was seen and 2 s passed without data. */
	for (int round = 0; round < 300 && (idle < 20 || *n_committed == 0); round++) {
		int n;

		if (kafka_consumer_poll_batch(c, batch, 256, 100, &n) != OK)
			break;
		idle = n == 0 ? idle + 1 : 0;
		for (int i = 0; i < n; i++) {
			struct envelope env;
			char why[160];
			Claims__ContractChanged *m;

			if (envelope_unpack(batch[i]->payload, batch[i]->len, &env, why,
					    sizeof(why)) != OK)
				continue;
			m = claims__contract_changed__unpack(NULL, env.payload_len, env.payload);
			if (m != NULL && m->change != NULL) {
				*n_committed += strcmp(m->change, committed) == 0;
				*n_rolled_back += strcmp(m->change, rolled_back) == 0;
			}
			if (m != NULL)
				claims__contract_changed__free_unpacked(m, NULL);
			envelope_free(&env);
		}
		kafka_batch_destroy(batch, n);
	}
	kafka_consumer_close(c);
}

/* Relay passes until nothing is left (or 1,000 passes); events published,
 * and set aside in *refused when not NULL. */
static int relay_all(struct outbox_relay *relay, int *refused)
{
	struct outbox_pass pass;
	int total = 0;

	if (refused != NULL)
		*refused = 0;

	for (int round = 0; round < 1000; round++) {
		if (outbox_relay_run(relay, &pass) != OK)
			return -1;
		total += pass.published;
		if (refused != NULL)
			*refused += pass.refused;
		if (!pass.full && !pass.not_our_turn)
			break;
		if (pass.not_our_turn)
			usleep(5000); /* a daemon's relay has the turn */
	}
	return total;
}

/* What claimctl outbox retry does: the events whose payload holds text,
 * set aside, put back. */
static int put_back(struct pg *db, const char *text)
{
	const char *v[1] = {text};

	return pg_exec_params(db,
			      "UPDATE outbox SET refused_at = NULL, refusal = NULL"
			      " WHERE position(convert_to($1, 'UTF8') IN payload) > 0",
			      1, v, NULL);
}

/* One pass that had the turn (a daemon's relay may hold it a moment). */
static int our_pass(struct outbox_relay *relay, struct outbox_pass *pass)
{
	for (int round = 0; round < 1000; round++) {
		if (outbox_relay_run(relay, pass) != OK)
			return ERR;
		if (!pass->not_our_turn)
			return OK;
		usleep(5000);
	}
	return ERR;
}

/* The outbox_queue entries of events with this key, counted. */
static const char *queued_by_key(struct pg *db, const char *key)
{
	return itest_value(db,
			   "SELECT count(*) FROM outbox_queue q JOIN outbox o USING (event_id)"
			   " WHERE o.key = $1",
			   key);
}

/* The outbox_queue entries of events whose payload holds text, counted. */
static const char *queued_with(struct pg *db, const char *text)
{
	return itest_value(db,
			   "SELECT count(*) FROM outbox_queue q JOIN outbox o USING (event_id)"
			   " WHERE position(convert_to($1, 'UTF8') IN o.payload) > 0",
			   text);
}

static void test_relay_publishes_committed_rows_only(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	char marker[UUID_STR_LEN], committed[64], rolled_back[64];
	int total = 0, n_committed, n_rolled_back;

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(committed, sizeof(committed), "committed-%s", marker);
	snprintf(rolled_back, sizeof(rolled_back), "rolled-back-%s", marker);
	CHECK(add_event(db, committed, 1) == OK);
	CHECK(add_event(db, rolled_back, 0) == OK);

	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);
	total = relay_all(relay, NULL);
	CHECK(total >= 1);
	CHECK_EQ_STR(
		itest_value(db,
			    "SELECT count(*) FROM outbox o JOIN outbox_queue q USING (event_id)"
			    " WHERE o.topic = $1",
			    TOPIC),
		"0");
	count_markers(committed, rolled_back, &n_committed, &n_rolled_back);
	CHECK_EQ_I64(n_committed, 1);
	CHECK_EQ_I64(n_rolled_back, 0);
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(db);
}

/* A producer in a fatal state (idempotence broken) publishes nothing
 * more: the relay's pass fails and says why (kafka_producer_fatal, which
 * the workers turn into a red /health and an exit), and the event stays
 * queued, for the restarted daemon's new producer to publish once. */
static void test_fatal_producer_fails_the_pass(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *broken, *fresh;
	struct outbox_relay *relay;
	struct outbox_pass pass;
	char marker[UUID_STR_LEN], change[64], absent[64];
	int n_published, n_absent;

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(change, sizeof(change), "fatal-%s", marker);
	snprintf(absent, sizeof(absent), "never-%s", marker);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-fatal", &broken) == OK);
	CHECK_EQ_I64(kafka_producer_fatal(broken), 0);
	REQUIRE(kafka_producer_fail_for_test(broken, "test: idempotence broken") == OK);
	CHECK(kafka_producer_fatal(broken) != 0);
	CHECK(add_event(db, change, 1) == OK);

	REQUIRE(outbox_relay_open(itest_dsn(), broken, 500, &relay) == OK);
	CHECK(outbox_relay_run(relay, &pass) != OK);
	CHECK_EQ_STR(queued_with(db, change), "1");
	outbox_relay_close(relay);
	kafka_producer_close(broken);

	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-fatal", &fresh) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), fresh, 500, &relay) == OK);
	CHECK(relay_all(relay, NULL) >= 1);
	CHECK_EQ_STR(queued_with(db, change), "0");
	count_markers(change, absent, &n_published, &n_absent);
	CHECK_EQ_I64(n_published, 1);
	outbox_relay_close(relay);
	kafka_producer_close(fresh);
	pg_close(db);
}

/* While another relay holds the turn, a relay publishes nothing, says
 * so, and leaves the rows pending; once the turn is free it publishes
 * them. */
static void test_relay_waits_for_its_turn(void)
{
	struct pg *db = itest_db(), *other = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	char marker[UUID_STR_LEN], change[64];
	struct outbox_pass pass;

	REQUIRE(db != NULL && other != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(change, sizeof(change), "turn-%s", marker);
	CHECK(add_event(db, change, 1) == OK);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-turn", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);

	REQUIRE(pg_begin(other) == OK);
	CHECK(pg_exec(other, "SELECT pg_advisory_xact_lock(7415001)") == OK);
	CHECK(outbox_relay_run(relay, &pass) == OK);
	CHECK_EQ_I64(pass.published, 0);
	CHECK_EQ_I64(pass.not_our_turn, 1);
	CHECK_EQ_STR(queued_with(db, change), "1");
	CHECK(pg_commit(other) == OK);

	CHECK(relay_all(relay, NULL) >= 1);
	CHECK_EQ_STR(queued_with(db, change), "0");
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(other);
	pg_close(db);
}

/* Every event written is queued, unless written already set aside; a
 * queued event set aside or deleted by hand is dequeued by the next pass
 * without being published. */
static void test_queue_follows_the_outbox(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	char marker[UUID_STR_LEN], stale[64], settled[64], gone[64], gone_id[24] = "0";
	int refused = -1;
	const char *v[1] = {stale};
	PGresult *res;

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(stale, sizeof(stale), "stale-%s", marker);
	snprintf(settled, sizeof(settled), "settled-%s", marker);
	snprintf(gone, sizeof(gone), "gone-%s", marker);
	CHECK(add_event(db, stale, 1) == OK);
	CHECK_EQ_STR(queued_with(db, stale), "1");
	{
		const char *w[1] = {settled};

		CHECK(pg_exec_params(
			      db,
			      "INSERT INTO outbox (message_id, topic, key, msg_type, payload,"
			      " refused_at, refusal) VALUES (gen_random_uuid(), "
			      "'contracts.changed',"
			      " '7', 1, convert_to($1, 'UTF8'), now(), 'test')",
			      1, w, NULL) == OK);
		CHECK_EQ_STR(queued_with(db, settled), "0");
		CHECK(pg_exec_params(db,
				     "DELETE FROM outbox WHERE position(convert_to($1, 'UTF8')"
				     " IN payload) > 0",
				     1, w, NULL) == OK);
	}
	/* An event deleted by hand while queued. */
	CHECK(add_event(db, gone, 1) == OK);
	{
		const char *w[1] = {gone};

		CHECK(pg_exec_params(
			      db,
			      "WITH d AS (DELETE FROM outbox WHERE position(convert_to($1, 'UTF8')"
			      " IN payload) > 0 RETURNING event_id)"
			      " SELECT event_id FROM d",
			      1, w, &res) == OK);
		if (res != NULL) {
			snprintf(gone_id, sizeof(gone_id), "%s", PQgetvalue(res, 0, 0));
			PQclear(res);
		}
	}
	CHECK(pg_exec_params(db,
			     "UPDATE outbox SET refused_at = '2000-01-01 00:00:00+00',"
			     " refusal = 'set aside by hand'"
			     " WHERE position(convert_to($1, 'UTF8') IN payload) > 0",
			     1, v, NULL) == OK);
	CHECK_EQ_STR(queued_with(db, stale), "1");

	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-stale", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);
	CHECK(relay_all(relay, &refused) >= 0);
	CHECK_EQ_I64(refused, 0); /* neither was tried */
	CHECK_EQ_STR(queued_with(db, stale), "0");
	CHECK_EQ_STR(
		itest_value(db, "SELECT count(*) FROM outbox_queue WHERE event_id = $1", gone_id),
		"0");
	/* Left as it was: not tried by this relay. */
	CHECK_EQ_STR(itest_value(db,
				 "SELECT refused_at = '2000-01-01 00:00:00+00' FROM outbox"
				 " WHERE position(convert_to($1, 'UTF8') IN payload) > 0",
				 v[0]),
		     "t");
	/* Put back (claimctl outbox retry): queued again by the outbox's
	 * trigger, then published. */
	CHECK(put_back(db, stale) == OK);
	CHECK_EQ_STR(queued_with(db, stale), "1");
	CHECK(relay_all(relay, &refused) >= 1);
	CHECK_EQ_STR(queued_with(db, stale), "0");
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(db);
}

/* One relay pass, in a thread of its own, while the test holds a
 * transaction open; a daemon's relay having the turn is waited out. */
struct pass_thread {
	struct outbox_relay *relay;
	int status;
	atomic_int finished;
};

static void *one_pass(void *arg)
{
	struct pass_thread *t = arg;
	struct outbox_pass pass;

	for (int round = 0; round < 1000; round++) {
		t->status = outbox_relay_run(t->relay, &pass);
		if (t->status != OK || !pass.not_our_turn)
			break;
		usleep(5000);
	}
	atomic_store(&t->finished, 1);
	return NULL;
}

/* An event set aside by hand keeps its queue entry; put back while a
 * relay reads it as stale, it stays queued: the relay leaves a row
 * another transaction holds for a later pass (without waiting for it),
 * and the event then goes out. */
static void test_put_back_during_a_pass(void)
{
	struct pg *db = itest_db(), *op_db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	struct pass_thread t;
	pthread_t thread;
	char marker[UUID_STR_LEN], back[64];
	const char *v[1] = {back};

	REQUIRE(db != NULL && op_db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(back, sizeof(back), "back-%s", marker);
	CHECK(add_event(db, back, 1) == OK);
	CHECK(pg_exec_params(db,
			     "UPDATE outbox SET refused_at = now(), refusal = 'set aside by hand'"
			     " WHERE position(convert_to($1, 'UTF8') IN payload) > 0",
			     1, v, NULL) == OK);
	CHECK_EQ_STR(queued_with(db, back), "1");
	/* The operator's put back, not committed yet. */
	REQUIRE(pg_begin(op_db) == OK);
	CHECK(put_back(op_db, back) == OK);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-put-back", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);
	t.relay = relay;
	t.status = ERR;
	atomic_init(&t.finished, 0);
	REQUIRE(pthread_create(&thread, NULL, one_pass, &t) == 0);
	/* The pass does not wait for the operator's transaction: the row
	 * it holds is left queued, for a later pass. */
	for (int i = 0; i < 200 && !atomic_load(&t.finished); i++)
		usleep(50000);
	CHECK_EQ_I64(atomic_load(&t.finished), 1);
	CHECK(pg_commit(op_db) == OK);
	pthread_join(thread, NULL);
	CHECK_EQ_I64(t.status, OK);
	CHECK_EQ_STR(queued_with(db, back), "1");
	CHECK(relay_all(relay, NULL) >= 1);
	CHECK_EQ_STR(queued_with(db, back), "0");
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(op_db);
	pg_close(db);
}

/* A backlog (Kafka away for a while) of more events than a pass takes is
 * drained pass after pass, in full, and the queue is left empty of it.
 * (On a topic no daemon reads, and which test_relay_publishes... does not
 * read through.) */
static void test_backlog_drained(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	char marker[UUID_STR_LEN], key[64];
	const char *v[1] = {key};

	REQUIRE(db != NULL);
	uuid_v7(marker);
	snprintf(key, sizeof(key), "backlog-%s", marker);
	CHECK(pg_exec(db, "VACUUM outbox_queue") == OK);
	CHECK(pg_exec_params(db,
			     "INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
			     " SELECT gen_random_uuid(), 'notifications.requested', $1, 1, '\\x00'"
			     " FROM generate_series(1, 5000)",
			     1, v, NULL) == OK);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-backlog", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);
	CHECK(relay_all(relay, NULL) >= 5000);
	CHECK_EQ_STR(itest_value(db,
				 "SELECT count(*) || '/' || count(q.event_id) FROM outbox o"
				 " LEFT JOIN outbox_queue q USING (event_id) WHERE o.key = $1",
				 v[0]),
		     "5000/0");
	CHECK(pg_exec_params(db, "DELETE FROM outbox WHERE key = $1", 1, v, NULL) == OK);
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(db);
}

/* The same message dead-lettered twice (its batch tried again after an
 * outage) leaves one dead letter; another offset leaves its own. */
static void test_dead_letter_once_per_message(void)
{
	struct pg *db = itest_db();
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_t *rkt;
	rd_kafka_message_t msg;
	char errstr[256], key[64], gid[UUID_STR_LEN];
	const char *v[1] = {key};

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	REQUIRE(rk != NULL);
	rkt = rd_kafka_topic_new(rk, "claims.submitted", NULL);
	REQUIRE(rkt != NULL);
	uuid_v7(gid);
	snprintf(key, sizeof(key), "dlq-once-%s", gid);
	memset(&msg, 0, sizeof(msg));
	msg.rkt = rkt;
	msg.partition = 3;
	msg.offset = clock_now_us(); /* an offset no other run used */
	msg.key = key;
	msg.key_len = strlen(key);
	msg.payload = "not protobuf";
	msg.len = 12;
	for (int attempt = 0; attempt < 2; attempt++) {
		REQUIRE(pg_begin(db) == OK);
		CHECK(worker_dead_letter(db, "test", &msg, "not a protobuf Envelope") == OK);
		CHECK(pg_commit(db) == OK);
	}
	msg.offset++;
	REQUIRE(pg_begin(db) == OK);
	CHECK(worker_dead_letter(db, "test", &msg, "not a protobuf Envelope") == OK);
	CHECK(pg_commit(db) == OK);
	CHECK_EQ_STR(itest_value(db,
				 "SELECT count(*) FROM outbox"
				 " WHERE topic = 'claims.submitted.dlq' AND key = $1",
				 v[0]),
		     "2");
	/* Test rows only: never published. */
	CHECK(pg_exec_params(db, "DELETE FROM outbox WHERE key = $1", 1, v, NULL) == OK);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_destroy(rk);
	pg_close(db);
}

/* A statement that failed unnoticed aborted the transaction: its COMMIT
 * is answered "ROLLBACK" without an error, and must not pass for one
 * (the caller would acknowledge messages whose effects are gone). */
static void test_commit_of_an_aborted_transaction_fails(void)
{
	struct pg *db = itest_db();
	Claims__ContractChanged msg = CLAIMS__CONTRACT_CHANGED__INIT;
	const char *v[1] = {"commit-after-failure"};
	PGresult *res = NULL;

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	msg.change = "commit-after-failure";
	CHECK(pg_begin(db) == OK);
	CHECK(outbox_add(db, TOPIC, "commit-after-failure", CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED,
			 &msg.base, NULL, "test") == OK);
	CHECK(pg_exec(db, "SELECT 1/0") != OK); /* the failure nobody looked at */
	CHECK(pg_exec(db, "SELECT 1") != OK);	/* 25P02, which says nothing */
	CHECK(pg_commit(db) != OK);
	CHECK_EQ_STR(pg_sqlstate(db), "22012"); /* the first failure's code: judged as if seen */
	pg_rollback(db);
	CHECK(pg_exec_params(db, "SELECT count(*) FROM outbox WHERE key = $1", 1, v, &res) == OK);
	if (res != NULL) {
		CHECK_EQ_STR(PQgetvalue(res, 0, 0), "0");
		PQclear(res);
	}
	CHECK(pg_begin(db) == OK); /* the session goes on */
	CHECK(pg_commit(db) == OK);
	pg_close(db);
}

/* A failure the message is not the cause of is an outage (the batch
 * tried again, never dead-lettered); one of its values is not. Each is
 * raised by the server with its SQLSTATE. */
static void test_outage_or_the_message(void)
{
	static const struct {
		const char *state;
		int outage;
	} cases[] = {
		{"40001", 1}, /* serialization failure */
		{"42P01", 1}, /* a table this release expects, missing */
		{"0A000", 1}, /* cached plan must not change result type */
		{"58030", 1}, /* the server's I/O error */
		{"XX000", 1}, /* internal error */
		{"57014", 1}, /* statement timeout */
		{"22003", 0}, /* a value out of range: the message's */
		{"23514", 0}, /* a check violated: the message's */
	};
	struct pg *db = itest_db();
	char sql[160];

	REQUIRE(db != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(sql, sizeof(sql),
			 "DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '%s'; END $$",
			 cases[i].state);
		CHECK(pg_exec(db, sql) != OK);
		CHECK_EQ_STR(pg_sqlstate(db), cases[i].state);
		CHECK_EQ_I64(worker_db_outage(db), cases[i].outage);
	}
	pg_close(db);
}

/* One event that cannot be delivered for now (its topic's partitions
 * held in the producer's queue, as by a broker that does not answer for
 * them) holds up neither the events behind it nor the relay: the pass
 * publishes them and succeeds, saying some stayed undelivered, at a pace
 * that calls for no back-off; the event stays queued, neither set aside
 * nor left in the producer (taken back when the pass's wait ran out).
 * Alone, it gets nothing through, and the relay backs off. Released, it
 * goes out once: the copies taken back never reached the broker, and the
 * gap they left in the partition's sequence numbers does not break the
 * idempotent producer. Each pass with it waits the relay's 5 s. */
static void test_stuck_event_does_not_hold_the_others(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	struct outbox_pass pass;
	char marker[UUID_STR_LEN], stuck[64], warm[64], absent[64], key[64];
	const char *v[1] = {key};
	int n_stuck, n_absent;

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(stuck, sizeof(stuck), "stuck-%s", marker);
	snprintf(warm, sizeof(warm), "warm-%s", marker);
	snprintf(absent, sizeof(absent), "never-%s", marker);
	snprintf(key, sizeof(key), "free-%s", marker);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-stuck", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 500, &relay) == OK);
	/* Published once, so that the producer knows the topic's 12
	 * partitions (deploy/topics.txt) and can hold them. */
	CHECK(add_event(db, warm, 1) == OK);
	CHECK(relay_all(relay, NULL) >= 1);
	REQUIRE(kafka_producer_hold_for_test(p, TOPIC, 12, 1) == OK);

	CHECK(add_event(db, stuck, 1) == OK);
	CHECK(pg_exec_params(db,
			     "INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
			     " SELECT gen_random_uuid(), 'notifications.requested', $1, 1, '\\x00'"
			     " FROM generate_series(1, 20)",
			     1, v, NULL) == OK);
	for (int round = 0; round < 10 && strcmp(queued_by_key(db, key), "0") != 0; round++) {
		CHECK(outbox_relay_run(relay, &pass) == OK);
		if (pass.not_our_turn)
			usleep(5000); /* a daemon's relay has the turn */
	}
	CHECK_EQ_STR(queued_by_key(db, key), "0");
	CHECK_EQ_I64(pass.undelivered, 1);
	CHECK(pass.published >= 20);
	CHECK_EQ_I64(pass.refused, 0);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	CHECK_EQ_STR(queued_with(db, stuck), "1");
	CHECK_EQ_STR(itest_value(db,
				 "SELECT count(*) FROM outbox WHERE refused_at IS NOT NULL"
				 " AND position(convert_to($1, 'UTF8') IN payload) > 0",
				 stuck),
		     "0");

	/* Nothing else pending: its key is left out, nothing is tried. */
	CHECK(outbox_relay_run(relay, &pass) == OK);
	CHECK_EQ_I64(pass.fetched, 0);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	/* Tried again once the key's wait is over (2 s): still not
	 * delivered, held again, and no reason for a back-off. */
	usleep(2100000);
	CHECK(outbox_relay_run(relay, &pass) == OK);
	CHECK_EQ_I64(pass.probed, 1);
	CHECK_EQ_I64(pass.published, 0);
	CHECK_EQ_I64(pass.undelivered, 1);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	CHECK_EQ_STR(queued_with(db, stuck), "1");

	/* Delivered at the next try (4 s later). */
	REQUIRE(kafka_producer_hold_for_test(p, TOPIC, 12, 0) == OK);
	for (int round = 0; round < 100 && strcmp(queued_with(db, stuck), "0") != 0; round++) {
		CHECK(outbox_relay_run(relay, &pass) == OK);
		usleep(100000);
	}
	CHECK_EQ_STR(queued_with(db, stuck), "0");
	CHECK_EQ_I64(kafka_producer_fatal(p), 0);
	count_markers(stuck, absent, &n_stuck, &n_absent);
	CHECK_EQ_I64(n_stuck, 1);
	CHECK(pg_exec_params(db, "DELETE FROM outbox WHERE key = $1", 1, v, NULL) == OK);
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(db);
}

/* Rows of the outbox with this topic and key, payload text || '-' || n. */
static int add_rows(struct pg *db, const char *topic, const char *key, const char *text, int n)
{
	char count[16];
	const char *v[4] = {topic, key, text, count};

	snprintf(count, sizeof(count), "%d", n);
	return pg_exec_params(
		db,
		"INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
		" SELECT gen_random_uuid(), $1, $2, 1, convert_to($3 || '-' || g, 'UTF8')"
		" FROM generate_series(1, $4::int) AS g",
		4, v, NULL);
}

/* More events of keys Kafka does not take than a pass holds (a
 * partition without a leader, under load): they fill the head of the
 * queue, and every pass would take only them. Their keys are held, left
 * out of the passes that follow, and the other keys' events go out. A
 * probe takes the oldest event of each key held: a key whose partition
 * is back goes out, however long the others' backlog; the others stay
 * held, and go out once Kafka takes them. */
static void test_stuck_keys_do_not_fill_the_passes(void)
{
	struct pg *db = itest_db();
	struct kafka_producer *p;
	struct outbox_relay *relay;
	struct outbox_pass pass;
	char marker[UUID_STR_LEN], stuck[64], back[64], other[64];

	REQUIRE(db != NULL);
	REQUIRE(outbox_prepare(db) == OK);
	uuid_v7(marker);
	snprintf(stuck, sizeof(stuck), "many-%s", marker);
	snprintf(back, sizeof(back), "back-%s", marker);
	snprintf(other, sizeof(other), "other-%s", marker);
	REQUIRE(kafka_producer_open(itest_brokers(), "test-relay-stuck-keys", &p) == OK);
	REQUIRE(outbox_relay_open(itest_dsn(), p, 10, &relay) == OK);
	/* Published once, so that the producer knows both topics'
	 * partitions and can hold them. */
	CHECK(add_rows(db, TOPIC, back, "warm", 1) == OK);
	CHECK(add_rows(db, "documents.requested", back, "warm", 1) == OK);
	CHECK(relay_all(relay, NULL) >= 2);
	REQUIRE(kafka_producer_hold_for_test(p, TOPIC, 12, 1) == OK);
	REQUIRE(kafka_producer_hold_for_test(p, "documents.requested", 12, 1) == OK);
	CHECK(add_rows(db, TOPIC, "7", stuck, 11) == OK);
	CHECK(add_rows(db, TOPIC, "8", stuck, 11) == OK);
	CHECK(add_rows(db, "documents.requested", back, back, 2) == OK);
	CHECK(add_rows(db, "notifications.requested", other, other, 5) == OK);
	for (int tried = 0; tried < 6 && strcmp(queued_by_key(db, other), "0") != 0; tried++)
		CHECK(our_pass(relay, &pass) == OK);
	CHECK_EQ_STR(queued_by_key(db, other), "0");
	CHECK_EQ_STR(queued_with(db, stuck), "22");
	CHECK_EQ_STR(queued_with(db, back), "2");

	/* documents.requested back, contracts.changed not: the probe takes
	 * its key's oldest event, and frees it; the passes the rest. */
	REQUIRE(kafka_producer_hold_for_test(p, "documents.requested", 12, 0) == OK);
	for (int round = 0; round < 400 && strcmp(queued_with(db, back), "0") != 0; round++) {
		CHECK(our_pass(relay, &pass) == OK);
		usleep(100000);
	}
	CHECK_EQ_STR(queued_with(db, back), "0");
	CHECK_EQ_STR(queued_with(db, stuck), "22");
	/* The next probe: one event of each key still held, refused; both
	 * held again, so the pass after it takes nothing of them. */
	for (int round = 0; round < 400; round++) {
		CHECK(our_pass(relay, &pass) == OK);
		if (pass.probed)
			break;
		CHECK_EQ_I64(pass.fetched, 0);
		usleep(100000);
	}
	CHECK_EQ_I64(pass.probed, 1);
	CHECK_EQ_I64(pass.fetched, 2);
	CHECK_EQ_I64(pass.published, 0);
	CHECK_EQ_I64(worker_relay_backs_off(OK, &pass), 0);
	CHECK(our_pass(relay, &pass) == OK);
	CHECK_EQ_I64(pass.fetched, 0);

	REQUIRE(kafka_producer_hold_for_test(p, TOPIC, 12, 0) == OK);
	for (int round = 0; round < 400 && strcmp(queued_with(db, stuck), "0") != 0; round++) {
		CHECK(our_pass(relay, &pass) == OK);
		usleep(100000);
	}
	CHECK_EQ_STR(queued_with(db, stuck), "0");
	{
		const char *w[1] = {marker};

		CHECK(pg_exec_params(db,
				     "DELETE FROM outbox WHERE position(convert_to($1, 'UTF8')"
				     " IN payload) > 0 OR position($1 IN key) > 0",
				     1, w, NULL) == OK);
	}
	outbox_relay_close(relay);
	kafka_producer_close(p);
	pg_close(db);
}

int main(void)
{
	if (log_init("test_outbox") != OK)
		return 2;
	RUN(test_relay_publishes_committed_rows_only);
	RUN(test_relay_waits_for_its_turn);
	RUN(test_fatal_producer_fails_the_pass);
	RUN(test_queue_follows_the_outbox);
	RUN(test_put_back_during_a_pass);
	RUN(test_backlog_drained);
	RUN(test_dead_letter_once_per_message);
	RUN(test_commit_of_an_aborted_transaction_fails);
	RUN(test_stuck_event_does_not_hold_the_others);
	RUN(test_stuck_keys_do_not_fill_the_passes);
	RUN(test_outage_or_the_message);
	return test_report();
}
