/*
 * NAME
 *	worker.c - the consume / commit / acknowledge loop of Kafka workers
 */
#include "common/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "common/xalloc.h"

struct worker {
	struct worker_config config;
	struct pg *db;
	struct kafka_consumer *consumer;
	struct kafka_producer *producer;
	struct outbox_relay *relay;
	rd_kafka_message_t **batch;
	int pending;	    /* messages of a batch not yet committed */
	int64_t last_db_us; /* last time the database answered */
	struct metric *consumed, *batches, *dead_letters, *retries, *given_back, *batch_seconds;
	struct metric *assigned;

	/* The relay's thread, and what the loop tells it. */
	pthread_t relay_thread;
	int relay_started;
	pthread_mutex_t relay_lock;
	pthread_cond_t relay_wake; /* on CLOCK_MONOTONIC */
	int relay_kicked;	   /* events committed since the relay's last pass */
	atomic_int relay_stopping; /* also read, without the lock, between passes */
	int relay_failing;	   /* the thread's last pass failed (read after the join) */
	atomic_int producer_fatal; /* the producer can publish nothing more */
};

#define RELAY_BATCH 2000
/* A relay with nothing to do still looks now and then: events committed
 * by other processes (claimctl, a daemon of another kind) have no one to
 * kick it. */
#define RELAY_IDLE_US 100000
/* Another relay held the turn: try again soon, its pass may have begun
 * before our events committed; twice as late each time it is still held
 * (a relay waiting for an absent broker holds it for seconds), up to
 * RELAY_IDLE_US. */
#define RELAY_TURN_US	       5000
#define RELAY_BACKOFF_FIRST_US 500000
#define RELAY_BACKOFF_MAX_US   30000000
/* The last relay of a graceful stop publishes for at most this long; what
 * is left waits in the outbox for the next relay (any daemon's). */
#define RELAY_DRAIN_US 5000000

static int relay_sync_init(struct worker *w);
static int relay_start(struct worker *w);
static void relay_stop(struct worker *w);

int worker_db_outage(struct pg *db)
{
	const char *state = pg_sqlstate(db);

	/* Not the message's fault, so never a dead letter; the batch is
	 * tried again: class 08 connection exception, 57 operator
	 * intervention (shutdown, statement timeout), 53 insufficient
	 * resources, 40 transaction rollback (serialization failure,
	 * deadlock), 55P03 lock not available, 26000 a prepared statement
	 * missing (a reconnect that could not prepare), 42 a fault of the
	 * statement itself (undefined table or function, permission denied:
	 * a release and its schema out of step, which would otherwise send
	 * every good message to the dead letters), 0A feature not supported
	 * (a prepared statement whose result type a migration changed under
	 * it: "cached plan must not change result type", until the daemon
	 * prepares it again), 58 system error (an I/O error of the server),
	 * XX internal error, or a connection libpq reports broken. */
	return PQstatus(pg_conn(db)) != CONNECTION_OK || strncmp(state, "08", 2) == 0 ||
	       strncmp(state, "57", 2) == 0 || strncmp(state, "53", 2) == 0 ||
	       strncmp(state, "40", 2) == 0 || strncmp(state, "42", 2) == 0 ||
	       strncmp(state, "0A", 2) == 0 || strncmp(state, "58", 2) == 0 ||
	       strncmp(state, "XX", 2) == 0 || strcmp(state, "55P03") == 0 ||
	       strcmp(state, "26000") == 0 || state[0] == '\0';
}

/* Dead letters written in the transaction in flight on this thread, by
 * the loop or by a handler: counted in worker_dead_letters_total once it
 * commits, so a batch tried twice counts its dead letters once. */
static _Thread_local int uncommitted_dead_letters;

int worker_dead_letter(struct pg *db, const char *consumer, const rd_kafka_message_t *msg,
		       const char *reason)
{
	Claims__DeadLetter dl = CLAIMS__DEAD_LETTER__INIT;
	char topic[300], why[512], name[512], id[UUID_STR_LEN], *named, *key;
	int head, status, added = 0;

	snprintf(topic, sizeof(topic), "%s.dlq", rd_kafka_topic_name(msg->rkt));
	dl.topic = (char *)rd_kafka_topic_name(msg->rkt);
	dl.has_partition = dl.has_offset = dl.has_value = dl.has_failed_at_us = 1;
	dl.partition = msg->partition;
	dl.offset = msg->offset;
	dl.has_key = msg->key != NULL;
	dl.key.data = msg->key;
	dl.key.len = msg->key_len;
	dl.value.data = msg->payload;
	dl.value.len = msg->len;
	dl.error = (char *)reason;
	/* A dead letter must fit the topic (the broker's default limit is
	 * about 1 MB): a message that large is kept by its beginning only,
	 * which shows what it was; it could not be processed anyway. */
	if (msg->len > WORKER_DEAD_LETTER_MAX_VALUE) {
		snprintf(why, sizeof(why), "%s; value of %zu bytes kept to its first %d", reason,
			 msg->len, WORKER_DEAD_LETTER_MAX_VALUE);
		dl.value.len = WORKER_DEAD_LETTER_MAX_VALUE;
		dl.has_original_size = 1;
		dl.original_size = (int64_t)msg->len;
		dl.error = why;
	}
	dl.consumer = (char *)consumer;
	dl.failed_at_us = clock_now_us();
	log_warn("dead letter from %s [%d] @%lld: %s", dl.topic, (int)msg->partition,
		 (long long)msg->offset, reason);
	/* One dead letter per message and consumer, however often the batch
	 * is tried again (an outage in the middle of its retry): its id
	 * comes from where the message was and what it held (a topic made
	 * again counts offsets from 0: other bytes, another id), and the
	 * outbox keeps the first. */
	head = snprintf(name, sizeof(name), "dead-letter/%s/%s/%d/%lld/", consumer, dl.topic,
			(int)msg->partition, (long long)msg->offset);
	if (head < 0 || (size_t)head >= sizeof(name))
		head = (int)strlen(name); /* cut short: still the same for the same message */
	named = xmalloc((size_t)head + msg->len);
	memcpy(named, name, (size_t)head);
	if (msg->len > 0)
		memcpy(named + head, msg->payload, msg->len);
	uuid_from_name(named, (size_t)head + msg->len, id);
	free(named);
	/* The dead letter is published under its message's key, whole (a
	 * key cut short would send it to another partition). A key that is
	 * not text (a binary or Latin-1 one) goes in hex: as it is,
	 * PostgreSQL would refuse the row, the batch would fail, and the
	 * message stop its partition for good. DeadLetter.key keeps the
	 * bytes, for the replay. */
	key = key_text(msg->key, msg->key_len);
	status = outbox_add_as(db, id, topic, key, CLAIMS__MESSAGE_TYPE__DEAD_LETTER, &dl.base,
			       NULL, consumer, &added);
	free(key);
	if (status != OK)
		return ERR;
	uncommitted_dead_letters += added; /* not one this message already has */
	return OK;
}

static int prepare_db(struct worker *w)
{
	if (outbox_prepare(w->db) != OK)
		return ERR;
	return w->config.prepare != NULL ? w->config.prepare(w->config.ctx, w->db) : OK;
}

/* "a,b": the topics a worker reads, for its metrics' label. */
static void topic_label(const char *const *topics, int count, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < count && used < size; i++) {
		int n = snprintf(out + used, size - used, "%s%s", i > 0 ? "," : "", topics[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

int worker_open(const struct worker_config *config, struct worker **out)
{
	struct worker *w = xcalloc(1, sizeof(*w));
	const char *topics[WORKER_MAX_TOPICS] = {config->topic};
	int topic_count = 1;
	char name[384], label[300];

	while (config->more_topics != NULL && config->more_topics[topic_count - 1] != NULL) {
		if (topic_count == WORKER_MAX_TOPICS) {
			log_error("a worker reads at most %d topics", WORKER_MAX_TOPICS);
			free(w);
			return ERR;
		}
		topics[topic_count] = config->more_topics[topic_count - 1];
		topic_count++;
	}

	w->config = *config;
	w->batch = xcalloc((size_t)config->batch, sizeof(*w->batch));
	if (relay_sync_init(w) != OK) {
		free(w->batch);
		free(w);
		return ERR;
	}
	if (pg_open(config->dsn, &w->db) != OK || prepare_db(w) != OK ||
	    kafka_producer_open(config->brokers, config->name, &w->producer) != OK ||
	    outbox_relay_open(config->dsn, w->producer, RELAY_BATCH, &w->relay) != OK ||
	    kafka_consumer_open_new_at(config->brokers, config->group, topics, topic_count,
				       config->new_group_at_end, &w->consumer) != OK ||
	    relay_start(w) != OK) {
		worker_close(w);
		return ERR;
	}
	/* One counter for the group's topics: named by them all. */
	topic_label(topics, topic_count, label, sizeof(label));
	snprintf(name, sizeof(name), "worker_messages_total{topic=\"%s\"}", label);
	w->consumed = metric_counter(name, "Messages handled and committed");
	w->batches = metric_counter("worker_batches_total", "Batches committed");
	w->dead_letters =
		metric_counter("worker_dead_letters_total", "Messages sent to a dead-letter topic");
	w->retries = metric_counter("worker_batch_retries_total",
				    "Batches retried after a failed transaction");
	w->given_back =
		metric_counter("worker_batches_given_back_total",
			       "Batches handed back to the consumer, uncommitted (the database"
			       " away), to be read again");
	w->batch_seconds =
		metric_histogram("worker_batch_seconds", "Time to handle and commit one batch");
	w->assigned = metric_gauge("worker_partitions_assigned",
				   "Partitions the group gives this replica now (0: idle, or not"
				   " joined yet)");
	*out = w;
	return OK;
}

struct pg *worker_db(struct worker *w)
{
	return w->db;
}

struct kafka_producer *worker_producer(struct worker *w)
{
	return w->producer;
}

/* One transaction around handle(); OK when committed. */
static int commit_messages(struct worker *w, rd_kafka_message_t **msgs, int n)
{
	uncommitted_dead_letters = 0;
	if (pg_begin(w->db) != OK)
		return ERR;
	if (w->config.handle(w->config.ctx, w->db, msgs, n) != OK || pg_commit(w->db) != OK) {
		pg_rollback(w->db);
		return ERR;
	}
	metric_add(w->dead_letters, uncommitted_dead_letters);
	if (w->config.committed != NULL)
		w->config.committed(w->config.ctx);
	return OK;
}

/* A message that fails alone on a healthy connection is poison. */
static int commit_one_by_one(struct worker *w)
{
	for (int i = 0; i < w->pending; i++) {
		char reason[256];

		if (commit_messages(w, &w->batch[i], 1) == OK)
			continue;
		if (worker_db_outage(w->db))
			return ERR;
		snprintf(reason, sizeof(reason), "database refused the message (SQLSTATE %s)",
			 pg_sqlstate(w->db));
		uncommitted_dead_letters = 0;
		if (pg_begin(w->db) != OK)
			return ERR;
		if (worker_dead_letter(w->db, w->config.name, w->batch[i], reason) != OK ||
		    pg_commit(w->db) != OK) {
			pg_rollback(w->db);
			return ERR;
		}
		metric_add(w->dead_letters, uncommitted_dead_letters);
	}
	return OK;
}

/* The batch could not be committed (the database away): its messages go
 * back to the consumer, which reads them again at the next steps. Holding
 * them instead would stop the polls, and a consumer that does not poll
 * holds up every rebalance of its group until the broker evicts it. When
 * the seek fails, the batch is kept and retried as it is. */
static void give_back(struct worker *w)
{
	if (kafka_consumer_rewind(w->consumer, w->batch, w->pending) != OK) {
		log_warn("%d messages kept for the next try (could not seek back)", w->pending);
		return;
	}
	metric_add(w->given_back, 1);
	kafka_batch_destroy(w->batch, w->pending);
	w->pending = 0;
}

static int settle_pending(struct worker *w)
{
	int64_t start = clock_mono_us();

	if (pg_check(w->db) != OK) {
		give_back(w);
		return ERR;
	}
	if (commit_messages(w, w->batch, w->pending) != OK) {
		metric_add(w->retries, 1);
		/* The shared lock table full (a batch's advisory locks, one per
		 * key or beneficiary, with every other replica's): not an outage
		 * for a message alone, which takes a lock or two. */
		if ((worker_db_outage(w->db) &&
		     strcmp(pg_sqlstate(w->db), PG_OUT_OF_SHARED_MEMORY) != 0) ||
		    commit_one_by_one(w) != OK) {
			give_back(w);
			return ERR; /* the next steps read the batch again */
		}
	}
	metric_observe_us(w->batch_seconds, clock_mono_us() - start);
	metric_add(w->batches, 1);
	metric_add(w->consumed, w->pending);
	/* Effects are committed: now, and only now, may the offsets move. */
	if (kafka_consumer_store(w->consumer, w->batch, w->pending) != OK)
		log_warn("offsets not stored: the batch will be redelivered and deduplicated");
	kafka_batch_destroy(w->batch, w->pending);
	w->pending = 0;
	return OK;
}

int worker_relay_backs_off(int status, const struct outbox_pass *pass)
{
	return status != OK || (pass->undelivered && pass->dequeued == 0 && !pass->probed);
}

/* Passes until the pending rows are out, or, for the thread, until asked
 * to stop, or past `until_us` (monotonic, 0: no limit): a long backlog
 * must not hold a shutdown up. ERR when the last pass calls for a
 * back-off; *not_our_turn when another relay held the turn at the last
 * pass. */
static int relay_passes(struct worker *w, int stoppable, int64_t until_us, int *not_our_turn)
{
	struct outbox_pass pass;
	int status;

	do {
		status = outbox_relay_run(w->relay, &pass);
		if (status != OK && kafka_producer_fatal(w->producer))
			atomic_store(&w->producer_fatal, 1);
		if (worker_relay_backs_off(status, &pass))
			return ERR;
	} while (pass.full && !(stoppable && atomic_load(&w->relay_stopping)) &&
		 !(until_us > 0 && clock_mono_us() >= until_us));
	*not_our_turn = pass.not_our_turn;
	return OK;
}

int worker_relay(struct worker *w)
{
	int not_our_turn;

	return relay_passes(w, 0, clock_mono_us() + RELAY_DRAIN_US, &not_our_turn);
}

const char *worker_health(struct worker *w)
{
	if (w == NULL || !pg_is_up(w->db))
		return "database connection down";
	if (atomic_load(&w->producer_fatal))
		return "kafka producer in a fatal state (restart needed)";
	return NULL;
}

void worker_relay_kick(struct worker *w)
{
	pthread_mutex_lock(&w->relay_lock);
	w->relay_kicked = 1;
	pthread_cond_signal(&w->relay_wake);
	pthread_mutex_unlock(&w->relay_lock);
}

/* Sleep until the deadline, or earlier when stopping or, if `kickable`,
 * when the loop commits events. Called and returns with relay_lock held. */
static void relay_wait(struct worker *w, int64_t wait_us, int kickable)
{
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(wait_us / 1000000);
	deadline.tv_nsec += (long)(wait_us % 1000000) * 1000;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	while (!w->relay_stopping && !(kickable && w->relay_kicked)) {
		if (pthread_cond_timedwait(&w->relay_wake, &w->relay_lock, &deadline) == ETIMEDOUT)
			break;
	}
}

/* The next wait of a back-off: first, then twice the last, up to max. */
static int64_t doubled(int64_t last_us, int64_t first_us, int64_t max_us)
{
	int64_t next = last_us == 0 ? first_us : last_us * 2;

	return next > max_us ? max_us : next;
}

/* The relay's own thread, on its own connection: publishing (a round trip
 * to the broker and back for every batch) overlaps with the loop's next
 * transaction instead of holding it up. Kafka away is not a failure of
 * the daemon: the events wait in the outbox, the loop goes on recording
 * (socket submissions are still answered), and the relay tries again
 * after a back-off growing to 30 s, but only while its passes get
 * nothing through (worker_relay_backs_off). */
static void *relay_main(void *arg)
{
	struct worker *w = arg;
	int64_t backoff_us = 0, turn_us = 0;

	pthread_mutex_lock(&w->relay_lock);
	while (!w->relay_stopping) {
		int not_our_turn = 0, status;

		w->relay_kicked = 0;
		pthread_mutex_unlock(&w->relay_lock);
		status = relay_passes(w, 1, 0, &not_our_turn);
		if (status == OK && backoff_us > 0)
			log_info("relay: publishing again");
		if (status == OK) {
			backoff_us = 0;
		} else {
			backoff_us =
				doubled(backoff_us, RELAY_BACKOFF_FIRST_US, RELAY_BACKOFF_MAX_US);
			log_warn("relay: events stay in the outbox; next try in %lld ms",
				 (long long)(backoff_us / 1000));
		}
		pthread_mutex_lock(&w->relay_lock);
		w->relay_failing = status != OK;
		if (status != OK) {
			relay_wait(w, backoff_us, 0);
		} else if (not_our_turn) {
			turn_us = doubled(turn_us, RELAY_TURN_US, RELAY_IDLE_US);
			relay_wait(w, turn_us, 0);
		} else {
			turn_us = 0;
			relay_wait(w, RELAY_IDLE_US, 1);
		}
	}
	pthread_mutex_unlock(&w->relay_lock);
	return NULL;
}

static int relay_sync_init(struct worker *w)
{
	pthread_condattr_t attr;
	int err;

	if ((err = pthread_condattr_init(&attr)) != 0) {
		log_error("relay: cannot make its condition variable: %s", strerror(err));
		return ERR;
	}
	if ((err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) != 0 ||
	    (err = pthread_cond_init(&w->relay_wake, &attr)) != 0) {
		log_error("relay: cannot make its condition variable: %s", strerror(err));
		pthread_condattr_destroy(&attr);
		return ERR;
	}
	pthread_condattr_destroy(&attr);
	if ((err = pthread_mutex_init(&w->relay_lock, NULL)) != 0) {
		log_error("relay: cannot make its mutex: %s", strerror(err));
		pthread_cond_destroy(&w->relay_wake);
		return ERR;
	}
	return OK;
}

static int relay_start(struct worker *w)
{
	if (thread_start(&w->relay_thread, relay_main, w, "relay") != OK)
		return ERR;
	w->relay_started = 1;
	return OK;
}

/* Finish the pass in flight (bounded by the relay's flush timeout) and
 * stop; after this the loop's thread owns the relay. */
static void relay_stop(struct worker *w)
{
	if (!w->relay_started)
		return;
	pthread_mutex_lock(&w->relay_lock);
	w->relay_stopping = 1;
	pthread_cond_signal(&w->relay_wake);
	pthread_mutex_unlock(&w->relay_lock);
	pthread_join(w->relay_thread, NULL);
	w->relay_started = 0;
}

/* An idle worker still asks the database now and then, so that /health
 * reports an outage before the next message finds it. */
static int ping_when_idle(struct worker *w)
{
	int64_t now = clock_mono_us();

	if (now - w->last_db_us < 5000000)
		return OK;
	if (pg_check(w->db) != OK || pg_exec(w->db, "SELECT 1") != OK)
		return ERR;
	w->last_db_us = now;
	return OK;
}

int worker_step(struct worker *w)
{
	/* Fatal (idempotence broken): this producer publishes nothing more,
	 * and only a new process makes a new one. Failing the steps makes
	 * the daemon exit for its supervisor after CLAIMS_MAX_STEP_ERRORS;
	 * the events wait in the outbox meanwhile. */
	if (atomic_load(&w->producer_fatal)) {
		log_error("kafka producer in a fatal state: exiting for a restart");
		return ERR;
	}
	if (w->pending == 0 && kafka_consumer_poll_batch(w->consumer, w->batch, w->config.batch,
							 w->config.poll_ms, &w->pending) != OK)
		return ERR;
	metric_set(w->assigned, kafka_consumer_assigned(w->consumer));
	if (w->pending > 0) {
		if (settle_pending(w) != OK)
			return ERR;
		w->last_db_us = clock_mono_us();
		worker_relay_kick(w);
	} else if (ping_when_idle(w) != OK) {
		return ERR;
	}
	return OK;
}

int worker_drain(struct worker *w)
{
	int status = OK, held = w->pending;

	if (w->pending > 0 && settle_pending(w) != OK) {
		log_warn("%d messages not committed; they will be redelivered", held);
		kafka_batch_destroy(w->batch, w->pending);
		w->pending = 0;
		status = ERR;
	}
	/* Offsets first, and out of the group at once: the partitions go to
	 * the other replicas now, not after the last relay (which may meet a
	 * backlog, or a broker away). */
	if (kafka_consumer_commit(w->consumer, 1) != OK)
		status = ERR;
	kafka_consumer_close(w->consumer);
	w->consumer = NULL;
	/* The last events, published from here once the thread is done, for
	 * RELAY_DRAIN_US at most; not when its last pass failed (Kafka or the
	 * database away): that would only add a flush timeout to the stop.
	 * What is left waits in the outbox for the next relay. */
	relay_stop(w);
	if (w->relay_failing || atomic_load(&w->producer_fatal))
		log_warn("relay: its last pass failed; events stay in the outbox for the next "
			 "relay");
	else if (worker_relay(w) != OK)
		log_warn("relay: events stay in the outbox for the next relay");
	return status;
}

void worker_close(struct worker *w)
{
	if (w == NULL)
		return;
	relay_stop(w);
	kafka_batch_destroy(w->batch, w->pending);
	kafka_consumer_close(w->consumer);
	outbox_relay_close(w->relay);
	kafka_producer_close(w->producer);
	pg_close(w->db);
	pthread_cond_destroy(&w->relay_wake);
	pthread_mutex_destroy(&w->relay_lock);
	free(w->batch);
	free(w);
}
