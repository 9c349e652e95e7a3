/*
 * NAME
 *	kafka.c - idempotent producer and batch consumer over librdkafka
 */
#include "common/kafka.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"

struct kafka_producer {
	rd_kafka_t *rk;
	_Atomic long failed;		/* deliveries failed since the last flush */
	_Atomic long purged;		/* tracked messages given up unsent, not yet said */
	rd_kafka_resp_err_t last_error; /* of the last kafka_produce() refused */
	/* kafka_producer_track(): where each message's delivery is written */
	uint32_t round;
	int *outcomes, count;
};

struct kafka_consumer {
	rd_kafka_t *rk;
	int revoked; /* set by the rebalance callback */
	int assigned;
	int from_end;	   /* partitions start at their end, whatever was committed */
	int new_at_end;	   /* partitions never committed start at their end, pinned */
	int assign_failed; /* a rebalance the client could not apply: polls fail */
};

/* --- shared configuration -------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char errstr[512];

	if (rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		log_error("kafka config %s=%s: %s", name, value, errstr);
		return ERR;
	}
	return OK;
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *pairs)
{
	for (; pairs[0] != NULL; pairs += 2)
		if (conf_set(conf, pairs[0], pairs[1]) != OK)
			return ERR;
	return OK;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	UNUSED(rk);
	if (level <= 3)
		log_error("librdkafka %s: %s", fac, buf);
	else if (level <= 4)
		log_warn("librdkafka %s: %s", fac, buf);
	else
		log_debug("librdkafka %s: %s", fac, buf);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	UNUSED(opaque);
	/* Fatal errors (idempotence broken) leave the handle unusable. */
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char buf[512];

		rd_kafka_fatal_error(rk, buf, sizeof(buf));
		log_error("kafka fatal error: %s", buf);
		return;
	}
	log_warn("kafka: %s: %s", rd_kafka_err2str((rd_kafka_resp_err_t)err), reason);
}

/* --- producer ------------------------------------------------------------------- */

/* A tracked message's opaque: its round in the high bits, its index + 1
 * in the low ones (never NULL). Reports of an earlier round (a flush
 * that timed out) are ignored: their outcomes array is gone. */
_Static_assert(sizeof(uintptr_t) >= 8, "tracked deliveries need 64-bit pointers");

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
	struct kafka_producer *p = opaque;
	uintptr_t tag = (uintptr_t)msg->_private;

	UNUSED(rk);
	if (tag != 0) {
		uint32_t round = (uint32_t)(tag >> 32), index = (uint32_t)tag - 1;

		if (p->outcomes != NULL && round == p->round && index < (uint32_t)p->count)
			p->outcomes[index] = msg->err;
		if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE)
			atomic_fetch_add(&p->purged, 1); /* said once, by who purged */
		else if (msg->err)
			log_error("kafka delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
				  rd_kafka_err2str(msg->err));
		return;
	}
	if (msg->err) {
		atomic_fetch_add(&p->failed, 1);
		log_error("kafka delivery to %s failed: %s", rd_kafka_topic_name(msg->rkt),
			  rd_kafka_err2str(msg->err));
	}
}

/* The first message to a topic the client has no metadata for waits for
 * the next metadata round of librdkafka's timer, up to a second; a relay
 * holds the outbox's lock meanwhile, so every stage waited with it. Ask
 * for every topic's metadata once at start: the first messages then find
 * their partitions known. A broker away now is not an error (the relay
 * copes with it later); the first messages then wait as before. */
static void warm_metadata(rd_kafka_t *rk)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, 2000);

	if (err) {
		log_info("kafka: no metadata yet (%s); first messages may wait",
			 rd_kafka_err2str(err));
		return;
	}
	rd_kafka_metadata_destroy(md);
}

int kafka_producer_open(const char *brokers, const char *client_id, struct kafka_producer **out)
{
	static const char *const settings[] = {
		"enable.idempotence",
		"true",
		"acks",
		"all",
		"linger.ms",
		"2",
		"batch.num.messages",
		"10000",
		"compression.codec",
		"lz4",
		"message.timeout.ms",
		"30000",
		/* A topic is made by deploy/topics.txt, with its partitions,
		 * never by a first event: a broker that creates topics on
		 * demand would make it with its default partitions (often one),
		 * and the replicas of a group would have nothing to share. An
		 * event for a missing topic is set aside as refused instead,
		 * where claimctl outbox refused shows it. */
		"allow.auto.create.topics",
		"false",
		NULL,
	};
	struct kafka_producer *p = xcalloc(1, sizeof(*p));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char errstr[512];

	if (conf_set(conf, "bootstrap.servers", brokers) != OK ||
	    conf_set(conf, "client.id", client_id) != OK || conf_set_all(conf, settings) != OK) {
		rd_kafka_conf_destroy(conf);
		free(p);
		return ERR;
	}
	rd_kafka_conf_set_opaque(conf, p);
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (p->rk == NULL) {
		log_error("kafka producer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		free(p);
		return ERR;
	}
	warm_metadata(p->rk);
	*out = p;
	return OK;
}

void kafka_producer_track(struct kafka_producer *p, int *outcomes, int count)
{
	p->round++;
	p->outcomes = outcomes;
	p->count = count;
	for (int i = 0; i < count; i++)
		outcomes[i] = KAFKA_NOT_DELIVERED;
}

void kafka_producer_untrack(struct kafka_producer *p)
{
	p->outcomes = NULL;
	p->count = 0;
}

static int produce(struct kafka_producer *p, const char *topic, const void *key, size_t key_len,
		   const void *value, size_t value_len, void *tag)
{
	rd_kafka_resp_err_t err;

	for (;;) {
		err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
					RD_KAFKA_V_KEY(key, key_len),
					RD_KAFKA_V_VALUE((void *)value, value_len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_OPAQUE(tag), RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* Local queue full: serve delivery reports to make room. */
		rd_kafka_poll(p->rk, 100);
	}
	p->last_error = err;
	if (err) {
		log_error("kafka produce to %s: %s", topic, rd_kafka_err2str(err));
		return ERR;
	}
	rd_kafka_poll(p->rk, 0);
	return OK;
}

int kafka_produce(struct kafka_producer *p, const char *topic, const void *key, size_t key_len,
		  const void *value, size_t value_len)
{
	return produce(p, topic, key, key_len, value, value_len, NULL);
}

int kafka_produce_tracked(struct kafka_producer *p, int index, const char *topic, const void *key,
			  size_t key_len, const void *value, size_t value_len)
{
	uintptr_t tag = ((uintptr_t)p->round << 32) | (uint32_t)(index + 1);

	if (produce(p, topic, key, key_len, value, value_len, (void *)tag) == OK)
		return OK;
	/* Refused before sending: no report will come, the outcome is known. */
	if (p->outcomes != NULL && index >= 0 && index < p->count)
		p->outcomes[index] = p->last_error;
	return ERR;
}

const char *kafka_refusal(int err)
{
	switch ((rd_kafka_resp_err_t)err) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
		return rd_kafka_err2str((rd_kafka_resp_err_t)err);
	case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
	case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
		return NULL; /* given up by this process (a purge), not refused */
	default:
		return NULL;
	}
}

int kafka_producer_flush(struct kafka_producer *p, int timeout_ms)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
	long failed = atomic_exchange(&p->failed, 0);

	if (err) {
		log_error("kafka flush: %s (%d messages outstanding)", rd_kafka_err2str(err),
			  rd_kafka_outq_len(p->rk));
		return ERR;
	}
	if (failed > 0) {
		log_error("kafka: %ld deliveries failed", failed);
		return ERR;
	}
	return OK;
}

/* rd_kafka_purge(RD_KAFKA_PURGE_F_QUEUE), as librdkafka 2.0.2 does it
 * (rdkafka.h; its broker and partition code): the messages not in flight
 * fail at once, with RD_KAFKA_RESP_ERR__PURGE_QUEUE in their delivery
 * reports, which the poll below serves: those waiting in a partition's
 * queue, in a request not yet written to the socket, or waiting for a
 * retry after a retriable error (one whose request got no answer may
 * have been written: a second copy then, as for one in flight). Those in
 * flight (written, not answered) are left alone, and their answer still
 * counts. Purging them too (RD_KAFKA_PURGE_F_INFLIGHT) would drop the
 * acknowledgement of messages the broker may have written, to produce
 * them again, a second copy: it is never done.
 * With enable.idempotence, purging queued messages is allowed: they leave
 * a gap in their partition's sequence numbers, which the broker answers
 * on the next request with OUT_OF_ORDER_SEQUENCE_NUMBER for a request
 * that is not the head of the line; the producer then waits for what is
 * in flight, bumps its epoch and sends again (not a fatal error: that is
 * only for the head of the line, the client and broker out of step).
 * The whole producer's queue goes: only for a producer whose messages are
 * all tracked (the relay's), and only once their round is given up. */
static int purge_unsent(struct kafka_producer *p)
{
	rd_kafka_resp_err_t err = rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);

	if (err) {
		log_error("kafka purge: %s", rd_kafka_err2str(err));
		return ERR;
	}
	/* The purged messages' reports are queued by now: served while their
	 * round is still tracked, they say "not delivered". */
	rd_kafka_poll(p->rk, 0);
	return OK;
}

static void say_purged(struct kafka_producer *p)
{
	long n = atomic_exchange(&p->purged, 0);

	if (n > 0)
		log_warn("kafka: %ld messages not sent yet given up, to be produced again; %d"
			 " still in flight",
			 n, rd_kafka_outq_len(p->rk));
}

int kafka_producer_outstanding(struct kafka_producer *p)
{
	return rd_kafka_outq_len(p->rk);
}

int kafka_producer_drop_unsent(struct kafka_producer *p)
{
	if (rd_kafka_outq_len(p->rk) == 0)
		return OK;
	if (purge_unsent(p) != OK)
		return ERR;
	say_purged(p);
	return OK;
}

/* In slices: a request in flight that fails for a reason that may pass
 * puts its messages back in the queue for a retry, where the next purge
 * finds them, rather than retrying them up to message.timeout.ms. */
int kafka_producer_settle(struct kafka_producer *p, int timeout_ms)
{
	int64_t until = clock_mono_us() + (int64_t)timeout_ms * 1000;
	int left;

	while ((left = rd_kafka_outq_len(p->rk)) > 0) {
		if (clock_mono_us() >= until) {
			say_purged(p);
			log_warn("kafka: %d messages of an earlier pass unanswered; not producing"
				 " again before they are",
				 left);
			return ERR;
		}
		if (purge_unsent(p) != OK)
			return ERR;
		if (rd_kafka_flush(p->rk, 100) == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
	}
	say_purged(p);
	return OK;
}

int kafka_producer_fatal(struct kafka_producer *p)
{
	return rd_kafka_fatal_error(p->rk, NULL, 0) != RD_KAFKA_RESP_ERR_NO_ERROR;
}

int kafka_producer_fail_for_test(struct kafka_producer *p, const char *reason)
{
	rd_kafka_resp_err_t err = rd_kafka_test_fatal_error(
		p->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, reason);

	if (err) {
		log_error("kafka: no fatal error raised: %s", rd_kafka_err2str(err));
		return ERR;
	}
	return OK;
}

int kafka_producer_hold_for_test(struct kafka_producer *p, const char *topic, int partitions,
				 int hold)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
	rd_kafka_resp_err_t err;
	int status = OK;

	for (int i = 0; i < partitions; i++)
		rd_kafka_topic_partition_list_add(parts, topic, i);
	err = hold ? rd_kafka_pause_partitions(p->rk, parts)
		   : rd_kafka_resume_partitions(p->rk, parts);
	for (int i = 0; i < parts->cnt; i++)
		if (err || parts->elems[i].err) {
			log_error("kafka %s %s [%d]: %s", hold ? "pause" : "resume", topic, i,
				  rd_kafka_err2str(err ? err : parts->elems[i].err));
			status = ERR;
			break;
		}
	rd_kafka_topic_partition_list_destroy(parts);
	return status;
}

void kafka_producer_close(struct kafka_producer *p)
{
	if (p == NULL)
		return;
	if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn("kafka producer closed with %d messages undelivered",
			 rd_kafka_outq_len(p->rk));
	rd_kafka_destroy(p->rk);
	free(p);
}

/* --- consumer ------------------------------------------------------------------- */

/* Each partition's end, asked now rather than left to the fetcher
 * (RD_KAFKA_OFFSET_END is resolved when fetching starts, which can be
 * after the first new messages): what is published after the assignment
 * is read, nothing before. */
static void start_at_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	for (int i = 0; i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t low, high;

		if (rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &low, &high,
						     5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
			tp->offset = high;
		else
			tp->offset = RD_KAFKA_OFFSET_END;
	}
}

/*
 * A partition the group has never committed an offset for starts at its
 * end, and that end is committed at once, before the partition is read:
 * the choice is made once and for good. auto.offset.reset=latest would
 * make it again at every assignment of a partition still without a
 * commit (one quiet since the deployment, whose first messages came
 * while a restart or a rebalance left it without an owner), skipping
 * them. When the committed offsets cannot be read or the end cannot be
 * committed, the partition is read from where the group stands, or from
 * its start (auto.offset.reset=earliest): told late rather than lost.
 */
static void pin_new_at_end(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
	rd_kafka_topic_partition_list_t *pin = rd_kafka_topic_partition_list_new(parts->cnt);
	rd_kafka_resp_err_t err;

	err = rd_kafka_committed(rk, parts, 10000);
	for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < parts->cnt; i++) {
		rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t low, high;

		if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR || tp->offset >= 0)
			continue; /* committed before: read on from there */
		if (rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &low, &high,
						     5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		rd_kafka_topic_partition_list_add(pin, tp->topic, tp->partition)->offset = high;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		log_warn("kafka: committed offsets not read (%s): partitions never committed are"
			 " read from their start",
			 rd_kafka_err2str(err));
		for (int i = 0; i < parts->cnt; i++)
			parts->elems[i].offset =
				RD_KAFKA_OFFSET_INVALID; /* the group's, as usual */
	} else if (pin->cnt > 0 &&
		   (err = rd_kafka_commit(rk, pin, 0)) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn("kafka: the end of %d new partitions not committed (%s): they are read"
			 " from their start",
			 pin->cnt, rd_kafka_err2str(err));
	else if (pin->cnt > 0)
		log_info("kafka: %d partitions new to the group start at their end", pin->cnt);
	/* parts holds the committed offsets now (INVALID where none): the
	 * fetcher starts there, and at the pinned ends where committed. */
	for (int i = 0; err == RD_KAFKA_RESP_ERR_NO_ERROR && i < pin->cnt; i++) {
		rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
			parts, pin->elems[i].topic, pin->elems[i].partition);

		if (tp != NULL)
			tp->offset = pin->elems[i].offset;
	}
	rd_kafka_topic_partition_list_destroy(pin);
}

/* Commit what was stored before the partitions change hands, so that
 * their next owner does not handle those messages again. Not when the
 * assignment was lost (this member evicted: a session that timed out, a
 * poll too late): the partitions may be another member's already, and the
 * group would refuse the commit. A commit that fails leaves the next
 * owner to handle again what was stored since the last one: harmless
 * (the handlers are idempotent), but said, since it repeats work. */
static void commit_on_revoke(rd_kafka_t *rk)
{
	rd_kafka_resp_err_t err;

	if (rd_kafka_assignment_lost(rk)) {
		log_info("kafka: partitions lost, not handed over: offsets stored since the last"
			 " commit not committed; their next owner handles those messages again");
		return;
	}
	err = rd_kafka_commit(rk, NULL, 0);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET)
		return; /* __NO_OFFSET: nothing stored since the last commit */
	log_warn("kafka: offsets not committed on revoke (%s): the partitions' next owner"
		 " handles the messages since the last commit again",
		 rd_kafka_err2str(err));
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka_consumer *c = opaque;
	rd_kafka_resp_err_t aerr;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		c->assigned = parts->cnt;
		log_info("kafka: assigned %d partitions", parts->cnt);
		if (c->from_end)
			start_at_end(rk, parts);
		else if (c->new_at_end)
			pin_new_at_end(rk, parts);
		aerr = rd_kafka_assign(rk, parts);
	} else {
		c->revoked = 1;
		c->assigned = 0;
		log_info("kafka: revoked %d partitions", parts->cnt);
		commit_on_revoke(rk);
		aerr = rd_kafka_assign(rk, NULL);
	}
	/* Left as it is, a replica would hold partitions it does not read,
	 * and claims would wait there with nobody to see why. */
	c->assign_failed = aerr != RD_KAFKA_RESP_ERR_NO_ERROR;
	if (aerr)
		log_error("kafka assign: %s", rd_kafka_err2str(aerr));
}

int kafka_consumer_open(const char *brokers, const char *group_id, const char *const *topics,
			int topic_count, struct kafka_consumer **out)
{
	return kafka_consumer_open_new_at(brokers, group_id, topics, topic_count, 0, out);
}

int kafka_consumer_open_new_at(const char *brokers, const char *group_id, const char *const *topics,
			       int topic_count, int new_group_at_end, struct kafka_consumer **out)
{
	static const char *const settings[] = {
		"enable.auto.commit",
		"true",
		"enable.auto.offset.store",
		"false",
		"auto.commit.interval.ms",
		"500",
		"auto.offset.reset",
		"earliest",
		"enable.partition.eof",
		"false",
		"session.timeout.ms",
		"10000",
		"heartbeat.interval.ms",
		"1000",
		"max.poll.interval.ms",
		"60000",
		NULL,
	};
	struct kafka_consumer *c = xcalloc(1, sizeof(*c));
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_topic_partition_list_t *subs;
	rd_kafka_resp_err_t err;
	char errstr[512];

	if (conf_set(conf, "bootstrap.servers", brokers) != OK ||
	    conf_set(conf, "group.id", group_id) != OK || conf_set_all(conf, settings) != OK) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return ERR;
	}
	c->new_at_end = new_group_at_end;
	rd_kafka_conf_set_opaque(conf, c);
	rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	rd_kafka_conf_set_log_cb(conf, on_log);
	rd_kafka_conf_set_error_cb(conf, on_error);
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (c->rk == NULL) {
		log_error("kafka consumer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		free(c);
		return ERR;
	}
	err = rd_kafka_poll_set_consumer(c->rk);
	if (err) {
		log_error("kafka poll_set_consumer: %s", rd_kafka_err2str(err));
		kafka_consumer_close(c);
		return ERR;
	}
	subs = rd_kafka_topic_partition_list_new(topic_count);
	for (int i = 0; i < topic_count; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
	err = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err) {
		log_error("kafka subscribe: %s", rd_kafka_err2str(err));
		kafka_consumer_close(c);
		return ERR;
	}
	*out = c;
	return OK;
}

void kafka_consumer_from_end(struct kafka_consumer *c)
{
	c->from_end = 1;
}

/* A message that carries an error rather than data: log, and say if fatal. */
static int consumer_error(rd_kafka_message_t *m)
{
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return OK;
	log_warn("kafka consumer: %s", rd_kafka_message_errstr(m));
	if (m->err == RD_KAFKA_RESP_ERR__FATAL)
		return ERR;
	return OK;
}

int kafka_consumer_poll_batch(struct kafka_consumer *c, rd_kafka_message_t **batch, int max,
			      int timeout_ms, int *count)
{
	int n = 0, wait = timeout_ms;

	c->revoked = 0;
	while (n < max) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, wait);

		if (c->revoked) {
			/* Partitions moved while gathering: the new owner has them. */
			kafka_batch_destroy(batch, n);
			n = 0;
			c->revoked = 0;
		}
		if (m == NULL)
			break;
		if (m->err) {
			int status = consumer_error(m);

			rd_kafka_message_destroy(m);
			if (status != OK) {
				kafka_batch_destroy(batch, n);
				return ERR;
			}
			continue;
		}
		batch[n++] = m;
		wait = 0; /* take what is already here, do not wait for more */
	}
	if (c->assign_failed) {
		log_error("kafka: the last rebalance could not be applied; no batch until one is");
		kafka_batch_destroy(batch, n);
		return ERR;
	}
	*count = n;
	return OK;
}

/* Each partition of the batch once, at the offset after its last
 * message (after_last: where to resume once they are handled) or at its
 * first (where to read them again). */
static rd_kafka_topic_partition_list_t *batch_partitions(rd_kafka_message_t **batch, int count,
							 int after_last)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(count);

	for (int i = 0; i < count; i++) {
		const char *topic = rd_kafka_topic_name(batch[i]->rkt);
		int64_t at = after_last ? batch[i]->offset + 1 : batch[i]->offset;
		rd_kafka_topic_partition_t *tp =
			rd_kafka_topic_partition_list_find(parts, topic, batch[i]->partition);

		if (tp == NULL) {
			tp = rd_kafka_topic_partition_list_add(parts, topic, batch[i]->partition);
			tp->offset = at;
		} else if (after_last ? at > tp->offset : at < tp->offset) {
			tp->offset = at;
		}
	}
	return parts;
}

/* A partition no longer assigned (revoked meanwhile, __STATE; or no
 * longer known to the client, __UNKNOWN_PARTITION): its new owner redoes
 * the (idempotent) work, nothing to report but the fact. */
static int no_longer_ours(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR__STATE || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* rd_kafka_offsets_store() answers NO_ERROR when some partitions were
 * stored (partial success) and an error when none was; each partition
 * says its own outcome in .err either way. */
static int stored(const rd_kafka_topic_partition_list_t *offsets, rd_kafka_resp_err_t err)
{
	int status = OK, gone = 0;

	if (err && !no_longer_ours(err)) {
		log_error("kafka offsets store: %s", rd_kafka_err2str(err));
		return ERR;
	}
	for (int i = 0; i < offsets->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &offsets->elems[i];

		if (tp->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		if (no_longer_ours(tp->err)) {
			gone++;
			continue;
		}
		log_error("kafka offsets store %s [%d]: %s", tp->topic, (int)tp->partition,
			  rd_kafka_err2str(tp->err));
		status = ERR;
	}
	if (gone > 0 || err)
		log_info("kafka: offsets of %d partitions no longer assigned not stored; their"
			 " new owner handles those messages again",
			 gone > 0 ? gone : offsets->cnt);
	return status;
}

int kafka_consumer_store(struct kafka_consumer *c, rd_kafka_message_t **batch, int count)
{
	rd_kafka_topic_partition_list_t *offsets;
	int status;

	if (count == 0)
		return OK;
	offsets = batch_partitions(batch, count, 1);
	status = stored(offsets, rd_kafka_offsets_store(c->rk, offsets));
	rd_kafka_topic_partition_list_destroy(offsets);
	return status;
}

int kafka_consumer_rewind(struct kafka_consumer *c, rd_kafka_message_t **batch, int count)
{
	rd_kafka_topic_partition_list_t *to;
	rd_kafka_error_t *error;
	int status = OK;

	if (count == 0)
		return OK;
	to = batch_partitions(batch, count, 0);
	error = rd_kafka_seek_partitions(c->rk, to, 5000);
	if (error != NULL) {
		log_error("kafka seek: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		status = ERR;
	}
	/* A partition revoked meanwhile is not sought: its new owner starts
	 * from the committed offset, before these messages. */
	for (int i = 0; status == OK && i < to->cnt; i++)
		if (to->elems[i].err && to->elems[i].err != RD_KAFKA_RESP_ERR__STATE &&
		    to->elems[i].err != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
			log_error("kafka seek %s [%d]: %s", to->elems[i].topic,
				  to->elems[i].partition, rd_kafka_err2str(to->elems[i].err));
			status = ERR;
		}
	rd_kafka_topic_partition_list_destroy(to);
	return status;
}

/* The group took this member's partitions away (its session timed out:
 * a process stopped, a paused host): the offsets it stored are no longer
 * its to commit. */
static int assignment_gone(rd_kafka_resp_err_t err)
{
	return err == RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST ||
	       err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
	       err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
	       err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
	       err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

int kafka_consumer_commit(struct kafka_consumer *c, int in_group)
{
	rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, NULL, 0);

	if (in_group && assignment_gone(err)) {
		log_warn("kafka commit: %s; the partitions' new owner reads their messages again "
			 "from"
			 " the last committed offsets",
			 rd_kafka_err2str(err));
		return OK;
	}
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
		log_error("kafka commit: %s", rd_kafka_err2str(err));
		return ERR;
	}
	return OK;
}

int kafka_consumer_check_topic(struct kafka_consumer *c, const char *topic, int timeout_ms)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	int status = OK;

	if (rkt == NULL) {
		log_error("kafka topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
		return ERR;
	}
	err = rd_kafka_metadata(c->rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err) {
		log_error("kafka metadata of %s: %s", topic, rd_kafka_err2str(err));
		return ERR;
	}
	if (md->topic_cnt != 1 || md->topics[0].err) {
		log_error("kafka topic %s: %s", topic,
			  md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "unknown");
		status = ERR;
	}
	rd_kafka_metadata_destroy(md);
	return status;
}

int kafka_consumer_range(struct kafka_consumer *c, const char *topic, int64_t **starts,
			 int64_t **ends, int *count)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_partition_list_t *committed;
	rd_kafka_resp_err_t err;
	int n, status = OK;

	if (rkt == NULL)
		return ERR;
	err = rd_kafka_metadata(c->rk, 0, rkt, &md, 10000);
	rd_kafka_topic_destroy(rkt);
	if (err || md->topic_cnt != 1 || md->topics[0].err) {
		log_error("kafka metadata of %s: %s", topic,
			  err		       ? rd_kafka_err2str(err)
			  : md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err)
					       : "no such topic in the answer");
		if (!err)
			rd_kafka_metadata_destroy(md);
		return ERR;
	}
	n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	committed = rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(committed, topic, p);
	err = rd_kafka_committed(c->rk, committed, 10000);
	if (err) {
		log_error("kafka committed offsets of %s: %s", topic, rd_kafka_err2str(err));
		status = ERR;
	}
	*starts = xcalloc((size_t)n + 1, sizeof(**starts));
	*ends = xcalloc((size_t)n + 1, sizeof(**ends));
	for (int p = 0; status == OK && p < n; p++) {
		int64_t low, high, at = committed->elems[p].offset;

		err = rd_kafka_query_watermark_offsets(c->rk, topic, p, &low, &high, 10000);
		if (err) {
			log_error("kafka watermarks of %s[%d]: %s", topic, p,
				  rd_kafka_err2str(err));
			status = ERR;
			break;
		}
		/* Nothing committed, or committed before what is kept: the
		 * consumer starts at the earliest (auto.offset.reset). */
		(*starts)[p] = at >= low ? at : low;
		(*ends)[p] = high;
	}
	rd_kafka_topic_partition_list_destroy(committed);
	if (status != OK) {
		free(*starts);
		free(*ends);
		*starts = *ends = NULL;
		return ERR;
	}
	*count = n;
	return OK;
}

int kafka_consumer_assigned(struct kafka_consumer *c)
{
	return c->assigned;
}

void kafka_consumer_close(struct kafka_consumer *c)
{
	rd_kafka_resp_err_t err;

	if (c == NULL)
		return;
	err = rd_kafka_consumer_close(c->rk); /* commits stored offsets, leaves the group */
	if (err)
		log_warn("kafka consumer close: %s", rd_kafka_err2str(err));
	rd_kafka_destroy(c->rk);
	free(c);
}

void kafka_batch_destroy(rd_kafka_message_t **batch, int count)
{
	for (int i = 0; i < count; i++)
		rd_kafka_message_destroy(batch[i]);
}
