/*
 * NAME
 *	outbox.c - transactional outbox and its relay to Kafka
 */
#include "common/outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/keyset.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pgarray.h"
#include "common/util.h"
#include "common/xalloc.h"

#define OUTBOX_FLUSH_TIMEOUT_MS 5000
/* The longest a pass waits, before taking the turn, for the answers to an
 * earlier pass's messages still in flight; short, since the relay's
 * back-off takes over when they are not answered by then, and a stop
 * waits for the pass. */
#define OUTBOX_SETTLE_TIMEOUT_MS 1000

/* Ids dequeued by a relay between two vacuums of the queue: the dead
 * entries each pass may step over before the first pending one. */
#define OUTBOX_VACUUM_EVERY 10000

/* Keys whose events Kafka did not take (a partition without a leader,
 * not enough replicas) are held: left out of the passes that follow, so
 * that their events do not fill every pass's head and hold every topic
 * up. A probe, a pass of the oldest event of each held key, tries them
 * again after OUTBOX_PROBE_FIRST_US, then twice as late each time one is
 * still not delivered, up to OUTBOX_PROBE_MAX_US; a key whose event went
 * out is free again, its other events read in order by the passes. At most OUTBOX_HELD_MAX keys are held: past that, Kafka is
 * away, not one partition, and the others' failures make the relay back
 * off as before. */
#define OUTBOX_PROBE_FIRST_US 2000000
#define OUTBOX_PROBE_MAX_US   30000000
#define OUTBOX_HELD_MAX	      4096

/* Arbitrary constant naming the relay's advisory lock. */
#define OUTBOX_LOCK_KEY "7415001"

struct outbox_relay {
	struct pg *db;
	struct kafka_producer *producer;
	int batch;
	struct metric *published_total;
	struct metric *failures_total;
	struct metric *refused_total;
	struct metric *pending_gauge;
	struct metric *relay_seconds;
	long dequeued;	      /* ids, since this relay's last vacuum of the queue */
	long long solo_until; /* one event a pass up to this id (0: off) */
	/* The last pass's messages still in flight when its wait ran out,
	 * still tracked: their outcomes and their rows' ids (0 for the rows
	 * settled within the pass), until the next pass hears the answers. */
	int *late_outcome;
	int64_t *late_id;
	int late_count;
	/* The ids of those heard delivered: taken off the queue by the next
	 * pass with the turn, before it reads the queue; forgotten once that
	 * pass commits (heard_marked: the deletion is in its transaction). */
	struct pgarray heard;
	int heard_count, heard_marked;
	/* The (topic, key) pairs held, and when (monotonic) their events
	 * are tried again: see OUTBOX_PROBE_FIRST_US. */
	struct keyset held;
	int64_t probe_at_us, probe_gap_us;
};

/* What became of the rows of one batch: the ids of the events published
 * (sent), of those Kafka refused (refused, reasons), and the queued ids
 * that were no longer pending when read (stale). The others stay queued
 * for a later pass: refused with a neighbour (ambiguous), or not
 * delivered for a reason that may pass (failed). */
enum { ROW_SENT = 1, ROW_FAILED = 2 };

struct relayed {
	struct pgarray sent, refused, reasons, stale;
	char *fate; /* of each row: ROW_SENT, ROW_FAILED (for a reason that may pass), 0 */
	int sent_count, stale_count, refused_count, failed_count;
	int stale_dropped; /* of stale_count: those not held by another transaction */
	int ambiguous;	   /* refusals that may be a neighbour's: taken one at a time */
	int failed;	   /* some not delivered, Kafka away or slow: tried again later */
};

int outbox_prepare(struct pg *db)
{
	return pg_prepare(db, "outbox_add",
			  "INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
			  " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO NOTHING",
			  5);
}

int outbox_add(struct pg *db, const char *topic, const char *key, Claims__MessageType type,
	       const ProtobufCMessage *payload, const char *trace_id, const char *producer)
{
	char id[UUID_STR_LEN];

	uuid_v7(id);
	return outbox_add_as(db, id, topic, key, type, payload, trace_id, producer, NULL);
}

int outbox_add_as(struct pg *db, const char *id, const char *topic, const char *key,
		  Claims__MessageType type, const ProtobufCMessage *payload, const char *trace_id,
		  const char *producer, int *added)
{
	char type_str[16];
	PGresult *res;
	uint8_t *buf;
	size_t len;
	int status;

	if (envelope_pack_as(type, payload, trace_id, producer, id, &buf, &len) != OK) {
		log_error("outbox: cannot serialize %s", envelope_type_name(type));
		return ERR;
	}
	snprintf(type_str, sizeof(type_str), "%d", (int)type);
	{
		const char *values[5] = {id, topic, key, type_str, (const char *)buf};
		const int lengths[5] = {0, 0, 0, 0, (int)len};
		const int formats[5] = {0, 0, 0, 0, 1};

		status = pg_exec_prepared(db, "outbox_add", 5, values, lengths, formats, &res);
	}
	free(buf);
	if (status != OK)
		return ERR;
	if (added != NULL)
		*added = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return OK;
}

/* The queue is a table whose size swings from empty to a backlog of an
 * outage within minutes: every statement goes by its index (daemon_main
 * turns sequential scans off on every daemon session, for this reason
 * among others). */
int outbox_relay_prepare(struct pg *db)
{
	/* `pending` is false for a queued id whose event was deleted or set
	 * aside by hand: dequeued without being sent. Publishing an event is
	 * taking its id off the queue; the outbox row is left as written. */
	if (pg_prepare(db, "outbox_pending",
		       "SELECT q.event_id, o.topic, o.key, o.payload,"
		       "  o.event_id IS NOT NULL AND o.refused_at IS NULL AS pending"
		       " FROM outbox_queue q LEFT JOIN outbox o ON o.event_id = q.event_id"
		       " ORDER BY q.event_id LIMIT $1",
		       1) != OK ||
	    /* The same without the events of the keys held; and the oldest
	     * event of each key held (a probe: one a key, so that one
	     * partition's backlog does not keep the other keys out of the
	     * probe, and a key whose event goes out is free, its others
	     * read in order by the passes). Both written with NOT IN so that PostgreSQL hashes the
	     * pairs (a hashed SubPlan) instead of comparing every queued row
	     * with every pair (a join over the unnest: measured, 20 s a
	     * pass for 60,000 events of 4,096 held pairs, against 0.14 s). */
	    pg_prepare(
		    db, "outbox_pending_except",
		    "SELECT q.event_id, o.topic, o.key, o.payload,"
		    "  o.event_id IS NOT NULL AND o.refused_at IS NULL AS pending"
		    " FROM outbox_queue q LEFT JOIN outbox o ON o.event_id = q.event_id"
		    " WHERE o.event_id IS NULL OR (o.topic, o.key) NOT IN"
		    "  (SELECT h.topic, h.key FROM unnest($2::text[], $3::text[]) AS h(topic, key))"
		    " ORDER BY q.event_id LIMIT $1",
		    3) != OK ||
	    pg_prepare(
		    db, "outbox_pending_held",
		    "SELECT * FROM (SELECT DISTINCT ON (o.topic, o.key) q.event_id, o.topic, o.key,"
		    "  o.payload, o.refused_at IS NULL AS pending"
		    " FROM outbox_queue q JOIN outbox o ON o.event_id = q.event_id"
		    " WHERE NOT (o.topic, o.key) NOT IN"
		    "  (SELECT h.topic, h.key FROM unnest($2::text[], $3::text[]) AS h(topic, key))"
		    " ORDER BY o.topic, o.key, q.event_id) AS oldest"
		    " ORDER BY event_id LIMIT $1",
		    3) != OK ||
	    pg_prepare(db, "outbox_mark_sent",
		       "DELETE FROM outbox_queue WHERE event_id = ANY($1::bigint[])", 1) != OK ||
	    /* Read as stale, but put back since (claimctl outbox retry)
	     * or deleted: dropped only if still so when deleting. The rows
	     * are held first, and one another transaction holds is left
	     * queued for a later pass: a put back not yet committed found
	     * the id still queued and queued nothing, so a deletion now,
	     * judged on the row as it was, would leave the event neither
	     * queued nor set aside, never sent (and waiting for it would
	     * hold the relay, its pass already produced, as long as an
	     * operator's transaction stays open). The ids returned: held,
	     * or whose event is gone. */
	    pg_prepare(
		    db, "outbox_hold_stale",
		    "WITH held AS (SELECT event_id FROM outbox"
		    "  WHERE event_id = ANY($1::bigint[]) FOR SHARE SKIP LOCKED),"
		    " present AS (SELECT event_id FROM outbox WHERE event_id = ANY($1::bigint[]))"
		    " SELECT x.id::text FROM unnest($1::bigint[]) AS x(id)"
		    " WHERE x.id IN (SELECT event_id FROM held)"
		    "  OR x.id NOT IN (SELECT event_id FROM present)",
		    1) != OK ||
	    pg_prepare(db, "outbox_drop_stale",
		       "DELETE FROM outbox_queue q WHERE q.event_id = ANY($1::bigint[])"
		       " AND NOT EXISTS (SELECT 1 FROM outbox o"
		       "  WHERE o.event_id = q.event_id AND o.refused_at IS NULL)",
		       1) != OK ||
	    pg_prepare(db, "outbox_mark_refused",
		       "WITH done AS (DELETE FROM outbox_queue WHERE event_id = ANY($1::bigint[])"
		       "  RETURNING event_id)"
		       " UPDATE outbox o SET refused_at = now(), refusal = x.why"
		       " FROM unnest($1::bigint[], $2::text[]) AS x(id, why), done"
		       " WHERE o.event_id = x.id AND done.event_id = x.id",
		       2) != OK ||
	    pg_prepare(db, "outbox_lock", "SELECT pg_try_advisory_xact_lock(" OUTBOX_LOCK_KEY ")",
		       0) != OK)
		return ERR;
	return OK;
}

int outbox_relay_open(const char *dsn, struct kafka_producer *producer, int batch,
		      struct outbox_relay **out)
{
	struct outbox_relay *r = xcalloc(1, sizeof(*r));

	if (pg_open(dsn, &r->db) != OK || outbox_relay_prepare(r->db) != OK)
		goto fail;
	r->producer = producer;
	r->batch = batch;
	pgarray_init(&r->heard);
	keyset_init(&r->held, OUTBOX_HELD_MAX);
	r->published_total =
		metric_counter("outbox_published_total", "Outbox events published to Kafka");
	r->failures_total = metric_counter(
		"outbox_relay_failures_total",
		"Relay passes that failed or left events undelivered: those events stay pending");
	r->refused_total = metric_counter("outbox_refused_total",
					  "Events Kafka can never take as they are, set aside"
					  " (claimctl outbox refused)");
	r->pending_gauge =
		metric_gauge("outbox_last_batch_size", "Events in the relay's last batch");
	r->relay_seconds = metric_histogram("outbox_relay_seconds",
					    "Time of one relay pass: read, publish, mark, commit");
	*out = r;
	return OK;
fail:
	pg_close(r->db);
	free(r);
	return ERR;
}

/* Events a pass takes: one at a time while finding which event of a
 * refused batch is at fault. */
static int pass_size(const struct outbox_relay *r)
{
	return r->solo_until > 0 ? 1 : r->batch;
}

/* Binary payload column: PQgetvalue in text mode gives bytea hex; ask for
 * binary results instead so the envelope bytes come back as they are.
 * With keys held, a probe reads the oldest event of each, a pass the
 * others' events. */
static int fetch_pending(struct outbox_relay *r, int probing, PGresult **res)
{
	const char *statement = r->held.count == 0 ? "outbox_pending"
				: probing	   ? "outbox_pending_held"
						   : "outbox_pending_except";
	char limit[16];
	const char *values[3] = {limit, NULL, NULL};
	const int formats[3] = {0, 0, 0};
	struct pgarray topics, keys;
	PGresult *raw;

	snprintf(limit, sizeof(limit), "%d", pass_size(r));
	pgarray_init(&topics);
	pgarray_init(&keys);
	if (r->held.count > 0) { /* the common case: none, nothing to build */
		keyset_arrays(&r->held, &topics, &keys);
		values[1] = pgarray_finish(&topics);
		values[2] = pgarray_finish(&keys);
	}
	raw = PQexecPrepared(pg_conn(r->db), statement, r->held.count == 0 ? 1 : 3, values, NULL,
			     formats, 1);
	pgarray_free(&topics);
	pgarray_free(&keys);
	if (PQresultStatus(raw) != PGRES_TUPLES_OK) {
		log_error("outbox pending: %.*s", (int)strcspn(PQresultErrorMessage(raw), "\n"),
			  PQresultErrorMessage(raw));
		PQclear(raw);
		return ERR;
	}
	*res = raw;
	return OK;
}

static int64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (uint8_t)p[i];
	return (int64_t)v;
}

/* Binary bool of the `pending` column. */
static int row_pending(const PGresult *res, int row)
{
	return PQgetlength(res, row, 4) == 1 && PQgetvalue(res, row, 4)[0] != 0;
}

/* The broker answers for a whole batch of one partition: when it refuses
 * it (a record too large), every event of the batch gets the refusal,
 * the good ones too. A refusal known before sending is the event's own;
 * one in a delivery report is only when it is the pass's only one. */
static int late_refusals(const int *outcome, const char *early, int rows)
{
	int n = 0;

	for (int i = 0; i < rows; i++)
		n += !early[i] && outcome[i] != 0 && outcome[i] != KAFKA_NOT_DELIVERED &&
		     kafka_refusal(outcome[i]) != NULL;
	return n;
}

static void set_aside(struct relayed *out, const char *id, const char *topic, int bytes,
		      const char *why)
{
	log_error("outbox event %s to %s (%d bytes) set aside: %s", id, topic, bytes, why);
	pgarray_text(&out->refused, id);
	pgarray_text(&out->reasons, why);
	out->refused_count++;
}

/* One row of a pass, by its delivery's outcome (see struct relayed). */
static void sort_row(PGresult *res, int i, int outcome, int early, struct relayed *out)
{
	char id[24], topic[256];
	const char *why;

	snprintf(id, sizeof(id), "%lld", (long long)be64(PQgetvalue(res, i, 0)));
	snprintf(topic, sizeof(topic), "%.*s", PQgetlength(res, i, 1), PQgetvalue(res, i, 1));
	if (!row_pending(res, i)) {
		pgarray_text(&out->stale, id);
		out->stale_count++;
	} else if (outcome == 0) {
		pgarray_text(&out->sent, id);
		out->sent_count++;
		out->fate[i] = ROW_SENT;
	} else if (outcome == KAFKA_NOT_DELIVERED || (why = kafka_refusal(outcome)) == NULL) {
		out->failed = 1; /* not delivered, for a reason that may pass */
		out->fate[i] = ROW_FAILED;
		out->failed_count++;
	} else if (early || !out->ambiguous) {
		set_aside(out, id, topic, PQgetlength(res, i, 3), why);
	}
	/* else refused with its neighbours: stays queued, sent alone next */
}

/* The pass's wait is over: what librdkafka has not sent yet is taken out
 * of its queue, its rows left queued (reported __PURGE_QUEUE: not
 * delivered, never refused). Left there, it would still go out, up to
 * message.timeout.ms later, unseen, while the next passes produce the
 * same rows again: one more copy of each per pass while the broker
 * stalls. What is in flight may be written and is not withdrawn: the
 * next pass waits for its answer before producing anything (settle, in
 * outbox_relay_run) and hears it (keep_tracking), so an event never has
 * two copies in flight from this relay, and one delivered late is not
 * sent again. */
static void give_up_unsent(struct outbox_relay *r)
{
	if (kafka_producer_drop_unsent(r->producer) != OK)
		log_warn("outbox: the pass's unsent messages stay queued in the producer;"
			 " the next pass waits for them");
}

/* The pass is over. Messages still in flight then are answered later: a
 * row delivered so would stay queued, and be produced again, a copy more
 * (with a broker slower than the pass's wait, every pass would write the
 * same head of the queue once more, and mark none of it). So the round
 * stays tracked, its outcomes kept with the ids of the rows still in
 * flight, for the next pass to hear (hear_late). Takes outcome, or
 * untracks: 1 when kept. */
static int keep_tracking(struct outbox_relay *r, PGresult *res, int *outcome)
{
	int rows = PQntuples(res);

	if (kafka_producer_outstanding(r->producer) == 0) {
		kafka_producer_untrack(r->producer);
		return 0;
	}
	r->late_outcome = outcome;
	r->late_id = xcalloc((size_t)rows, sizeof(*r->late_id));
	r->late_count = rows;
	for (int i = 0; i < rows; i++)
		if (outcome[i] == KAFKA_NOT_DELIVERED && row_pending(res, i))
			r->late_id[i] = be64(PQgetvalue(res, i, 0));
	return 1;
}

static void forget_late(struct outbox_relay *r)
{
	kafka_producer_untrack(r->producer);
	free(r->late_outcome);
	free(r->late_id);
	r->late_outcome = NULL;
	r->late_id = NULL;
	r->late_count = 0;
}

/* After the settle: the last pass's messages are all answered. Those
 * delivered are taken off the queue by the next pass with the turn,
 * instead of being produced again; the others stay queued. */
static void hear_late(struct outbox_relay *r)
{
	int heard = 0;

	if (r->late_outcome == NULL)
		return;
	for (int i = 0; i < r->late_count; i++) {
		char id[24];

		if (r->late_id[i] == 0 || r->late_outcome[i] != 0)
			continue;
		snprintf(id, sizeof(id), "%lld", (long long)r->late_id[i]);
		pgarray_text(&r->heard, id);
		heard++;
	}
	if (heard > 0)
		log_info("outbox: %d events of the last pass acknowledged after its wait: taken"
			 " off the queue, not sent again",
			 heard);
	r->heard_count += heard;
	forget_late(r);
}

/* In the pass's transaction, with the turn, before the queue is read. */
static int mark_heard(struct outbox_relay *r, struct outbox_pass *pass)
{
	const char *ids[1] = {pgarray_finish(&r->heard)};

	if (r->heard_count == 0)
		return OK;
	if (pg_exec_prepared(r->db, "outbox_mark_sent", 1, ids, NULL, NULL, NULL) != OK)
		return ERR;
	r->heard_marked = 1;
	pass->published = pass->dequeued = r->heard_count;
	return OK;
}

/* Once the deletion is committed; kept for the next pass otherwise. */
static void forget_heard(struct outbox_relay *r, int committed)
{
	if (committed && r->heard_marked) {
		pgarray_free(&r->heard);
		pgarray_init(&r->heard);
		r->heard_count = 0;
	}
	r->heard_marked = 0;
}

/* Produce every row and wait for each delivery report, then sort the
 * rows into `out`. A row Kafka refuses for good (too large, no such
 * topic), before sending or on delivery, is set aside with its reason
 * instead of blocking every event behind it forever; refusals that may
 * be a neighbour's stay queued, to be sent again one at a time. What was
 * delivered is taken off the queue whatever became of the rest, so that
 * a later pass does not send it twice. */
static void produce_rows(struct outbox_relay *r, PGresult *res, struct relayed *out)
{
	int rows = PQntuples(res), produced = 1, together, kept;
	int *outcome = xcalloc((size_t)rows, sizeof(*outcome));
	char *early = xcalloc((size_t)rows, 1);

	kafka_producer_track(r->producer, outcome, rows);
	for (int i = 0; i < rows && produced; i++) {
		/* Whole, as written (libpq ends every value with a NUL): a key
		 * cut short would send the event to another partition. */
		const char *topic = PQgetvalue(res, i, 1), *key = PQgetvalue(res, i, 2);

		if (!row_pending(res, i))
			continue;
		if (kafka_produce_tracked(r->producer, i, topic, key,
					  (size_t)PQgetlength(res, i, 2), PQgetvalue(res, i, 3),
					  (size_t)PQgetlength(res, i, 3)) != OK) {
			early[i] = 1;
			/* Not a refusal: the rest waits for a later pass. */
			produced = kafka_refusal(outcome[i]) != NULL;
		}
	}
	/* Bounded: the relay holds the outbox's turn while it waits, and a
	 * daemon's stop waits for its pass (what was not acknowledged is
	 * sent again). What was produced is waited for even when the loop
	 * stopped early, so that what got through is known. The rows' own
	 * reports decide, not the flush. */
	if (kafka_producer_flush(r->producer, OUTBOX_FLUSH_TIMEOUT_MS) != OK)
		give_up_unsent(r);
	kept = keep_tracking(r, res, outcome);
	together = late_refusals(outcome, early, rows);
	if (together > 1) {
		log_warn("outbox: Kafka refused %d events of one pass together; taking them"
			 " again one at a time to find which",
			 together);
		out->ambiguous = 1;
	}
	for (int i = 0; i < rows; i++)
		sort_row(res, i, outcome[i], early[i], out);
	if (!kept)
		free(outcome);
	free(early);
}

/* Two statements: the deletion's snapshot is taken once the rows are
 * held, so that it sees a put back committed meanwhile. */
static int drop_stale(struct outbox_relay *r, const char *stale, int *dropped)
{
	const char *ids[1] = {stale};
	struct pgarray held;
	PGresult *res;
	int status = OK;

	if (pg_exec_prepared(r->db, "outbox_hold_stale", 1, ids, NULL, NULL, &res) != OK)
		return ERR;
	pgarray_init(&held);
	for (int i = 0; i < PQntuples(res); i++)
		pgarray_text(&held, PQgetvalue(res, i, 0));
	PQclear(res);
	ids[0] = pgarray_finish(&held);
	*dropped = held.count; /* at most: some may have been put back meanwhile */
	if (held.count > 0)
		status = pg_exec_prepared(r->db, "outbox_drop_stale", 1, ids, NULL, NULL, NULL);
	pgarray_free(&held);
	return status;
}

static int mark(struct outbox_relay *r, struct relayed *done)
{
	const char *sent[1] = {pgarray_finish(&done->sent)};
	const char *refused[2] = {pgarray_finish(&done->refused), pgarray_finish(&done->reasons)};
	const char *stale[1] = {pgarray_finish(&done->stale)};

	if (done->sent_count > 0 &&
	    pg_exec_prepared(r->db, "outbox_mark_sent", 1, sent, NULL, NULL, NULL) != OK)
		return ERR;
	if (done->stale_count > 0 && drop_stale(r, stale[0], &done->stale_dropped) != OK)
		return ERR;
	if (done->refused_count > 0 &&
	    pg_exec_prepared(r->db, "outbox_mark_refused", 2, refused, NULL, NULL, NULL) != OK)
		return ERR;
	return OK;
}

/* After a pass, the keys of its events not delivered are held. After a
 * probe (the oldest event of each key held, or of the first ones), a key
 * it read is free unless its event failed again, and when it read fewer
 * than it could, a key it did not read has no event left: free too. */
static void hold_keys(struct outbox_relay *r, int probing, PGresult *res,
		      const struct relayed *done)
{
	int rows = PQntuples(res), was_held = r->held.count;

	if (probing && rows < pass_size(r))
		keyset_clear(&r->held);
	for (int i = 0; i < rows && probing; i++)
		keyset_remove(&r->held, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	for (int i = 0; i < rows; i++)
		if (done->fate[i] == ROW_FAILED)
			(void)keyset_add(&r->held, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	if (r->held.count == 0) {
		if (was_held > 0)
			log_info("outbox: the keys held back are delivered again");
		r->probe_gap_us = 0;
		return;
	}
	if (probing && done->failed_count == 0 && done->sent_count > 0) {
		/* Delivered, and more keys held than it read: on at once. */
		r->probe_gap_us = OUTBOX_PROBE_FIRST_US;
		r->probe_at_us = clock_mono_us() + (rows == pass_size(r) ? 0 : r->probe_gap_us);
	} else if (probing || was_held == 0) {
		/* Refused again, or nothing it could try (a row another
		 * transaction holds): later, never at once. */
		if (done->failed_count > 0 || r->probe_gap_us == 0)
			r->probe_gap_us =
				r->probe_gap_us == 0 ? OUTBOX_PROBE_FIRST_US : 2 * r->probe_gap_us;
		if (r->probe_gap_us > OUTBOX_PROBE_MAX_US)
			r->probe_gap_us = OUTBOX_PROBE_MAX_US;
		r->probe_at_us = clock_mono_us() + r->probe_gap_us;
		if (done->failed_count > 0)
			log_warn("outbox: %d events not delivered; %d keys held back from the"
				 " passes, tried again in %lld ms",
				 done->failed_count, r->held.count,
				 (long long)(r->probe_gap_us / 1000));
	}
}

static int locked_batch(struct outbox_relay *r, struct outbox_pass *pass)
{
	struct relayed done;
	PGresult *res;
	int status, probing;

	if (pg_exec_prepared(r->db, "outbox_lock", 0, NULL, NULL, NULL, &res) != OK)
		return ERR;
	pass->not_our_turn = strcmp(PQgetvalue(res, 0, 0), "t") != 0;
	PQclear(res);
	if (pass->not_our_turn)
		return OK; /* another relay has the turn */
	probing = r->held.count > 0 && clock_mono_us() >= r->probe_at_us;
	if (mark_heard(r, pass) != OK || fetch_pending(r, probing, &res) != OK)
		return ERR;
	pass->full = PQntuples(res) == pass_size(r);
	if (PQntuples(res) == 0) {
		r->solo_until = 0; /* what it waited for went out elsewhere */
		if (probing) {	   /* their events went out through another relay */
			keyset_clear(&r->held);
			r->probe_gap_us = 0;
		}
		PQclear(res);
		return OK;
	}
	pass->fetched = PQntuples(res);
	memset(&done, 0, sizeof(done));
	pgarray_init(&done.sent);
	pgarray_init(&done.refused);
	pgarray_init(&done.reasons);
	pgarray_init(&done.stale);
	done.fate = xcalloc((size_t)PQntuples(res), 1);
	/* Exactly the rows published are marked, never a range: a row inside
	 * the range may have committed after the SELECT and not be sent. */
	produce_rows(r, res, &done);
	hold_keys(r, probing, res, &done);
	pass->probed = probing;
	if (probing)
		pass->full = 1; /* then the others' events, or more of these */
	if (done.ambiguous) {
		/* The refused go again, in order, one a pass, up to the last
		 * of this pass. */
		r->solo_until = be64(PQgetvalue(res, PQntuples(res) - 1, 0));
		pass->full = 1;
	} else if (!done.failed && r->solo_until > 0 &&
		   be64(PQgetvalue(res, 0, 0)) >= r->solo_until) {
		r->solo_until = 0;
	}
	status = mark(r, &done);
	if (status == OK) {
		pass->published += done.sent_count;
		pass->refused = done.refused_count;
		pass->dequeued += done.sent_count + done.stale_dropped + done.refused_count;
		pass->undelivered = done.failed;
		/* Nothing moved (rows other transactions hold): the next pass
		 * would read the same, so not at once. */
		if (pass->dequeued == 0 && !done.failed && !done.ambiguous)
			pass->full = 0;
	}
	PQclear(res);
	pgarray_free(&done.sent);
	pgarray_free(&done.refused);
	pgarray_free(&done.reasons);
	pgarray_free(&done.stale);
	free(done.fate);
	return status;
}

/* The queue's dead entries (ids dequeued) are stepped over by every pass
 * until a vacuum removes them; on so small a table a vacuum is cheap, so
 * a relay runs one after every OUTBOX_VACUUM_EVERY ids it dequeued rather
 * than wait for autovacuum's next round. SKIP_LOCKED: when another relay
 * is vacuuming it, that one is enough. A failure costs only speed. */
static void vacuum_queue(struct outbox_relay *r)
{
	if (r->dequeued < OUTBOX_VACUUM_EVERY)
		return;
	r->dequeued = 0;
	if (pg_exec(r->db, "VACUUM (SKIP_LOCKED) outbox_queue") != OK)
		log_warn("outbox: the queue was not vacuumed; relays slow down until it is");
}

/* Events left undelivered do not fail the pass: the others went out, and
 * the caller judges from what the pass took off the queue whether to wait
 * before the next (one stuck event must not slow every topic; their keys
 * are held, see OUTBOX_PROBE_FIRST_US). Only a producer that will publish
 * nothing more fails it. */
static int undelivered(struct outbox_relay *r, struct outbox_pass *pass)
{
	pass->undelivered = 1;
	metric_add(r->failures_total, 1);
	if (kafka_producer_fatal(r->producer)) {
		log_error("outbox: the producer is in a fatal state; it publishes nothing more");
		return ERR;
	}
	return OK;
}

int outbox_relay_run(struct outbox_relay *r, struct outbox_pass *pass)
{
	int64_t start = clock_mono_us();

	memset(pass, 0, sizeof(*pass));
	/* Not while an earlier pass's messages are in flight: their rows are
	 * still queued and would be produced again, a second copy in flight.
	 * Before taking the turn, which another relay may use meanwhile. */
	if (kafka_producer_settle(r->producer, OUTBOX_SETTLE_TIMEOUT_MS) != OK)
		return undelivered(r, pass);
	hear_late(r);
	if (pg_check(r->db) != OK)
		return ERR;
	if (pg_begin(r->db) != OK)
		return ERR;
	if (locked_batch(r, pass) != OK || pg_commit(r->db) != OK) {
		pg_rollback(r->db);
		forget_heard(r, 0);
		metric_add(r->failures_total, 1);
		memset(pass, 0, sizeof(*pass));
		return ERR;
	}
	forget_heard(r, 1);
	metric_add(r->published_total, pass->published);
	metric_add(r->refused_total, pass->refused);
	if (pass->fetched > 0) {
		metric_set(r->pending_gauge, pass->published);
		metric_observe_us(r->relay_seconds, clock_mono_us() - start);
	}
	r->dequeued += pass->dequeued;
	vacuum_queue(r);
	/* What was delivered is off the queue; the rest waits. */
	return pass->undelivered ? undelivered(r, pass) : OK;
}

void outbox_relay_close(struct outbox_relay *r)
{
	if (r == NULL)
		return;
	if (r->late_outcome != NULL)
		forget_late(r); /* before the producer serves a report into it */
	pgarray_free(&r->heard);
	keyset_free(&r->held);
	pg_close(r->db);
	free(r);
}
