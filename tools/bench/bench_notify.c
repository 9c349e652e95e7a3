/*
 * NAME
 *	bench_notify - members told per second, next to the raw limits
 *
 * SYNOPSIS
 *	bench_notify [--events N] [--rate R] [--batch B] [--skip-raw] [--skip-notify]
 *
 * DESCRIPTION
 *	Measures, in one run on the same machine and infrastructure:
 *
 *	1. Kafka raw produce rate: N reimbursements.computed envelopes (as
 *	   reimburse writes them: 3 line decisions) to topic bench.raw,
 *	   idempotent producer, acks=all;
 *	2. PostgreSQL COPY rate: N notification rows, as notify writes them,
 *	   into an ordinary table made for the run LIKE notifications
 *	   INCLUDING ALL (its keys, the unique dedupe key, the indexes by
 *	   member and by claim; no foreign key), a commit every B rows
 *	   (default 500, notify's CLAIMS_NOTIFY_BATCH), synchronous_commit
 *	   on; dropped at the end;
 *	3. notify: N new reimbursements.computed events (each its own
 *	   message id) about the latest complete claims bench_pipeline sent
 *	   (source "bench": the benchmark's own, never a real member's; at
 *	   most 1,000, in turn), sent to the topic; each event's latency
 *	   runs from its send (with --rate, from the time it was due) to the
 *	   moment its notification was written (notifications.created_at),
 *	   so it includes the broker, notify's batch and its statement, not
 *	   the commit that follows (a WAL flush: about a millisecond). The
 *	   notify daemon must be running and caught up (tools/bench/run.sh
 *	   starts it and waits).
 *
 *	Prints throughput and latency percentiles (p50, p99, p99.9). Without
 *	--rate every event is sent at once: the throughput is notify's
 *	capacity and the latency mostly queueing. With --rate R event i is
 *	due at start + i / R: the latency below saturation.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/reimbursement.pb-c.h"

struct options {
	long events, rate, batch;
	int skip_raw, skip_notify;
	const char *brokers, *dsn;
};

/* The claims the events are about: complete ones, newest first. */
struct claims {
	long count;
	char (*ids)[UUID_STR_LEN];
	int64_t *contracts;
};

/* ---- the event sent ----------------------------------------------------- */

static int pack_event(const char *claim_id, int64_t contract_id, char id[UUID_STR_LEN],
		      uint8_t **buf, size_t *len)
{
	Claims__ReimbursementComputed rc = CLAIMS__REIMBURSEMENT_COMPUTED__INIT;
	Claims__LineDecision l[3], *lp[3] = {&l[0], &l[1], &l[2]};
	static const char *const rules[] = {"PF", "GUARANTEE_PCT"};

	for (int k = 0; k < 3; k++) {
		claims__line_decision__init(&l[k]);
		l[k].has_line_no = l[k].has_charged_cents = l[k].has_amo_paid_cents = 1;
		l[k].has_amc_cents = l[k].has_rac_cents = 1;
		l[k].line_no = (uint32_t)k + 1;
		l[k].charged_cents = 1715;
		l[k].amo_paid_cents = 1149;
		l[k].amc_cents = 566;
		l[k].n_rules = 2;
		l[k].rules = (char **)rules;
	}
	rc.claim_id = (char *)claim_id;
	rc.has_contract_id = rc.has_outcome = 1;
	rc.contract_id = contract_id;
	rc.outcome = CLAIMS__OUTCOME__OUTCOME_COMPLETE;
	rc.n_lines = 3;
	rc.lines = lp;
	rc.has_total_charged_cents = rc.has_total_amo_paid_cents = 1;
	rc.has_total_amc_cents = rc.has_total_rac_cents = 1;
	rc.total_charged_cents = 5145;
	rc.total_amo_paid_cents = 3447;
	rc.total_amc_cents = 1698;
	rc.source = "bench";
	rc.external_id = "bench-notify";
	return envelope_pack(CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &rc.base, NULL, "bench",
			     id, buf, len);
}

static int load_claims(const struct options *o, struct claims *c)
{
	struct pg *db;
	PGresult *res;

	if (pg_open(o->dsn, &db) != OK)
		return ERR;
	if (pg_exec_params(db,
			   "SELECT claim_id, contract_id FROM claims"
			   " WHERE source = 'bench' AND status = 'complete'"
			   " ORDER BY claim_id DESC LIMIT 1000",
			   0, NULL, &res) != OK) {
		pg_close(db);
		return ERR;
	}
	c->count = PQntuples(res);
	c->ids = xcalloc((size_t)c->count + 1, sizeof(*c->ids));
	c->contracts = xcalloc((size_t)c->count + 1, sizeof(*c->contracts));
	for (long i = 0; i < c->count; i++) {
		snprintf(c->ids[i], UUID_STR_LEN, "%s", PQgetvalue(res, (int)i, 0));
		c->contracts[i] = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
	}
	PQclear(res);
	pg_close(db);
	if (c->count == 0) {
		log_error("no complete claim of the pipeline's benchmark: run it first");
		free(c->ids);
		free(c->contracts);
		return ERR;
	}
	return OK;
}

/* ---- 1. Kafka raw produce ------------------------------------------------ */

static int bench_kafka(const struct options *o, const struct claims *c)
{
	struct kafka_producer *p;
	uint8_t *buf;
	size_t size;
	char id[UUID_STR_LEN];
	int64_t start, elapsed;
	long sent;
	int flushed;

	if (pack_event(c->ids[0], c->contracts[0], id, &buf, &size) != OK)
		return ERR;
	if (bench_ensure_topic(o->brokers, "bench.raw") != OK ||
	    kafka_producer_open(o->brokers, "bench", &p) != OK) {
		free(buf);
		return ERR;
	}
	start = clock_mono_us();
	for (sent = 0; sent < o->events; sent++) {
		char key[24];

		snprintf(key, sizeof(key), "%lld", (long long)c->contracts[sent % c->count]);
		if (kafka_produce(p, "bench.raw", key, strlen(key), buf, size) != OK)
			break;
	}
	flushed = kafka_producer_flush(p, 60000);
	elapsed = clock_mono_us() - start;
	if (sent < o->events || flushed != OK)
		printf("kafka produce (raw)      failed: %ld of %ld messages queued%s\n", sent,
		       o->events, flushed == OK ? "" : ", not all delivered");
	else
		printf("kafka produce (raw)      %8.0f msg/s    (%ld events of %zu bytes, acks=all,"
		       " idempotent)\n",
		       (double)sent * 1e6 / (double)elapsed, sent, size);
	kafka_producer_close(p);
	free(buf);
	return sent == o->events && flushed == OK ? OK : ERR;
}

/* ---- 2. PostgreSQL COPY -------------------------------------------------- */

static int copy_notifications(PGconn *conn, const char *table, const struct claims *c, long n)
{
	char sql[256], row[768], id[UUID_STR_LEN], key[UUID_STR_LEN];
	int status;

	snprintf(sql, sizeof(sql),
		 "COPY %s (notification_id, member_id, channel, template, params, dedupe_key,"
		 " status, sent_at, claim_id) FROM STDIN",
		 table);
	if (bench_copy_start(conn, sql) != OK)
		return ERR;
	status = OK;
	for (long i = 0; i < n && status == OK; i++) {
		const char *claim = c->ids[i % c->count];
		int len;

		uuid_v7(id);
		uuid_v7(key);
		len = snprintf(
			row, sizeof(row),
			"%s\t1\tin_app\treimbursement_computed\t{\"care_to\": \"2026-03-10\","
			" \"outcome\": \"complete\", \"claim_id\": \"%s\", \"amc_cents\": 1698,"
			" \"care_from\": \"2026-03-10\", \"rac_cents\": 0, \"beneficiary\":"
			" \"Member\", \"charged_cents\": 5145, \"amo_paid_cents\": 3447}"
			"\tevent:%s\tsent\t2026-12-05 00:00:00+00\t%s\n",
			id, claim, key, claim);
		status = bench_copy_row(conn, row, len);
	}
	return bench_copy_finish(conn, status);
}

static int bench_copy(const struct options *o, const struct claims *c)
{
	struct pg *db;
	char run[UUID_STR_LEN], table[48], sql[160];
	int64_t start, elapsed;
	long commits = 0;
	int status = ERR;

	if (pg_open(o->dsn, &db) != OK)
		return ERR;
	uuid_v7(run);
	snprintf(table, sizeof(table), "bench_copy_notifications_%.8s", run + 28);
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (LIKE notifications INCLUDING ALL)", table);
	if (pg_set(db, "synchronous_commit", "on") != OK || pg_exec(db, sql) != OK)
		goto out;
	start = clock_mono_us();
	for (long done = 0; done < o->events; done += o->batch) {
		long n = o->events - done < o->batch ? o->events - done : o->batch;

		if (pg_begin(db) != OK)
			goto out;
		if (copy_notifications(pg_conn(db), table, c, n) != OK || pg_commit(db) != OK) {
			pg_rollback(db);
			goto out;
		}
		commits++;
	}
	elapsed = clock_mono_us() - start;
	printf("postgres COPY (raw)      %8.0f rows/s   (%ld notification rows, %ld commits of up"
	       " to %ld, synchronous_commit on; table LIKE notifications INCLUDING ALL: its"
	       " indexes, no foreign keys)\n",
	       (double)o->events * 1e6 / (double)elapsed, o->events, commits, o->batch);
	status = OK;
out:
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	if (pg_exec(db, sql) != OK)
		log_error("table %s left behind: drop it by hand", table);
	pg_close(db);
	return status;
}

/* ---- 3. notify ----------------------------------------------------------- */

/* Send the events, paced or not; their keys ("event:" id) and due times. */
static int send_events(const struct options *o, const struct claims *c, char (*keys)[48],
		       int64_t *due, int64_t *behind)
{
	struct kafka_producer *p;
	int64_t start_wall = clock_now_us(), start = clock_mono_us();
	long sent;

	if (kafka_producer_open(o->brokers, "bench", &p) != OK)
		return ERR;
	for (sent = 0; sent < o->events; sent++) {
		const long k = sent % c->count;
		char id[UUID_STR_LEN], key[24];
		uint8_t *buf;
		size_t len;
		int status;

		if (o->rate > 0) {
			int64_t at = start + sent * 1000000 / o->rate, now = clock_mono_us();

			if (now < at) {
				struct timespec ts = {0, (long)(at - now) * 1000};

				nanosleep(&ts, NULL);
			}
			due[sent] = start_wall + (at - start);
			behind[sent] = clock_mono_us() - at;
		} else {
			due[sent] = clock_now_us();
		}
		if (pack_event(c->ids[k], c->contracts[k], id, &buf, &len) != OK)
			break;
		snprintf(keys[sent], 48, "event:%s", id);
		snprintf(key, sizeof(key), "%lld", (long long)c->contracts[k]);
		status = kafka_produce(p, "reimbursements.computed", key, strlen(key), buf, len);
		free(buf);
		if (status != OK)
			break;
	}
	if (kafka_producer_flush(p, 60000) != OK)
		sent = -1;
	kafka_producer_close(p);
	return sent == o->events ? OK : ERR;
}

/* When each event's notification was written (0: not yet). */
static int read_told(struct pg *db, char (*keys)[48], long n, int64_t *told_at, long *told)
{
	struct pgarray a;
	const char *v[1];
	PGresult *res;

	pgarray_init(&a);
	for (long i = 0; i < n; i++)
		pgarray_text(&a, keys[i]);
	v[0] = pgarray_finish(&a);
	if (pg_exec_params(db,
			   "SELECT k.n - 1, (extract(epoch FROM t.created_at) * 1000000)::bigint"
			   " FROM unnest($1::text[]) WITH ORDINALITY k(key, n)"
			   " JOIN notifications t ON t.dedupe_key = k.key",
			   1, v, &res) != OK) {
		pgarray_free(&a);
		return ERR;
	}
	*told = PQntuples(res);
	for (int r = 0; r < PQntuples(res); r++)
		told_at[strtol(PQgetvalue(res, r, 0), NULL, 10)] =
			strtoll(PQgetvalue(res, r, 1), NULL, 10);
	PQclear(res);
	pgarray_free(&a);
	return OK;
}

static void report_notify(const struct options *o, const int64_t *due, const int64_t *told_at,
			  int64_t *behind, long told)
{
	int64_t *lat = xcalloc((size_t)o->events + 1, sizeof(*lat)), first = due[0], last = 0;
	long n = 0;

	for (long i = 0; i < o->events; i++) {
		if (told_at[i] == 0)
			continue;
		lat[n++] = told_at[i] - due[i] > 0 ? told_at[i] - due[i] : 0;
		if (told_at[i] > last)
			last = told_at[i];
	}
	qsort(lat, (size_t)n, sizeof(*lat), compare_i64);
	printf("notify%-18s %8.0f events/s (%ld of %ld events told, in %.1f s)\n",
	       o->rate > 0 ? " (paced)" : "",
	       last > first ? (double)n * 1e6 / (double)(last - first) : 0.0, told, o->events,
	       (double)(last - first) / 1e6);
	if (n > 0)
		printf("event -> told latency    p50 %.1f ms   p99 %.1f ms   p99.9 %.1f ms   max "
		       "%.1f"
		       " ms\n",
		       percentile_ms(lat, n, 0.50), percentile_ms(lat, n, 0.99),
		       percentile_ms(lat, n, 0.999), (double)lat[n - 1] / 1000.0);
	if (o->rate > 0) {
		qsort(behind, (size_t)o->events, sizeof(*behind), compare_i64);
		printf("sender behind schedule   p50 %.1f ms   p99 %.1f ms (latency counted from "
		       "each"
		       " event's due time)\n",
		       percentile_ms(behind, o->events, 0.50),
		       percentile_ms(behind, o->events, 0.99));
	}
	free(lat);
}

static int bench_notify(const struct options *o, const struct claims *c)
{
	char(*keys)[48] = xcalloc((size_t)o->events, sizeof(*keys));
	int64_t *due = xcalloc((size_t)o->events, sizeof(int64_t));
	int64_t *behind = xcalloc((size_t)o->events, sizeof(int64_t));
	int64_t *told_at = xcalloc((size_t)o->events, sizeof(int64_t));
	int64_t deadline;
	struct pg *db = NULL;
	long told = 0;
	int status = ERR;

	if (send_events(o, c, keys, due, behind) != OK || pg_open(o->dsn, &db) != OK)
		goto out;
	/* Waits at most a minute past the sending, and a second per 1,000;
	 * asks once a second (each ask reads the N keys: the machine is
	 * shared with what is measured). */
	deadline = clock_mono_us() + (60 + o->events / 1000) * INT64_C(1000000);
	while (read_told(db, keys, o->events, told_at, &told) == OK && told < o->events &&
	       clock_mono_us() < deadline) {
		struct timespec ts = {1, 0};

		nanosleep(&ts, NULL);
	}
	report_notify(o, due, told_at, behind, told);
	if (told < o->events)
		printf("not told within the wait: %ld events (is notify running?)\n",
		       o->events - told);
	status = told == o->events ? OK : ERR;
out:
	pg_close(db);
	free(keys);
	free(due);
	free(behind);
	free(told_at);
	return status;
}

int main(int argc, char **argv)
{
	struct options o = {20000, 0, 500, 0, 0, NULL, NULL};
	struct claims c = {0};
	int status = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
			o.events = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
			o.rate = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			o.batch = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--skip-raw") == 0) {
			o.skip_raw = 1;
		} else if (strcmp(argv[i], "--skip-notify") == 0) {
			o.skip_notify = 1;
		} else {
			printf("Usage: bench_notify [--events N] [--rate R] [--batch B] "
			       "[--skip-raw]"
			       " [--skip-notify]\n\n"
			       "Kafka produce and PostgreSQL COPY rates for notify's events and"
			       " rows, then\n"
			       "events told per second and their latency through the running"
			       " notify daemon;\n"
			       "with --rate, events are sent at R per second (latency below"
			       " saturation).\n"
			       "  CLAIMS_KAFKA_BROKERS  [127.0.0.1:59092]\n"
			       "  CLAIMS_PG_DSN         "
			       "[postgresql://claims@127.0.0.1:55432/claims]\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (o.events < 1 || o.batch < 1 || o.rate < 0)
		return 2;
	if (log_init("bench") != OK)
		return 2;
	o.brokers =
		getenv("CLAIMS_KAFKA_BROKERS") ? getenv("CLAIMS_KAFKA_BROKERS") : "127.0.0.1:59092";
	o.dsn = getenv("CLAIMS_PG_DSN") ? getenv("CLAIMS_PG_DSN")
					: "postgresql://claims@127.0.0.1:55432/claims";
	if (load_claims(&o, &c) != OK)
		return 1;
	printf("bench_notify: %ld events about %ld complete claims\n", o.events, c.count);
	if (!o.skip_raw && bench_kafka(&o, &c) != OK)
		status = 1;
	if (!o.skip_raw && bench_copy(&o, &c) != OK)
		status = 1;
	if (!o.skip_notify && bench_notify(&o, &c) != OK)
		status = 1;
	free(c.ids);
	free(c.contracts);
	return status;
}
