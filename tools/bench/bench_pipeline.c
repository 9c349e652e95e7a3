/*
 * NAME
 *	bench_pipeline - end-to-end claims per second, next to the raw limits
 *
 * SYNOPSIS
 *	bench_pipeline [--claims N] [--members M] [--rate R] [--batch B] [--skip-raw]
 *	               [--skip-e2e]
 *
 * DESCRIPTION
 *	Measures, in one run on the same machine and infrastructure:
 *
 *	1. Kafka raw produce rate: N messages of the size of a 3-line claim
 *	   envelope, idempotent producer with acks=all, to topic bench.raw
 *	   (created here if missing);
 *	2. PostgreSQL COPY rate: N claim rows and 3N line rows copied into
 *	   ordinary tables made for the run LIKE claims and claim_lines
 *	   INCLUDING ALL (their indexes and checks; no foreign keys, which
 *	   LIKE does not copy), B claims and their lines a transaction (B:
 *	   --batch, default 500, the daemons' CLAIMS_*_BATCH), each commit
 *	   waiting for its WAL flush (synchronous_commit on); the tables are
 *	   dropped at the end;
 *	3. end to end: N claims of 3 lines for the seeded members 1..M sent
 *	   to claims.submitted; each claim's latency runs from its send (with
 *	   --rate, from the time it was due to leave) to the moment its
 *	   complete reimbursements.computed event is read back, so it
 *	   includes intake's commit, the relay, the reimbursement decision's
 *	   commit and the second relay. The intake and reimbursement daemons
 *	   must be running (tools/bench/run.sh starts them).
 *
 *	Prints throughput and latency percentiles (p50, p99, p99.9), and
 *	the CPU this program used meanwhile (it shares the machine with what
 *	it measures). Without
 *	--rate every claim is sent at once: the throughput is the pipeline's
 *	capacity and the latency mostly the time spent queueing. With --rate
 *	R claim i is due at start + i / R: the latency of a claim below
 *	saturation, counted from that due time, so that a sender fallen
 *	behind does not hide the wait (how far behind it fell is printed).
 */
#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/ident.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/pg.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/claims.pb-c.h"
#include "proto/reimbursement.pb-c.h"
#include "bench_util.h"

struct options {
	long claims, members, rate, batch;
	int skip_e2e, skip_raw;
	const char *brokers, *dsn;
};

/* ---- the claim sent ----------------------------------------------------- */

static int pack_claim(const char *run, long i, long members, uint8_t **buf, size_t *len)
{
	Claims__ClaimSubmitted c = CLAIMS__CLAIM_SUBMITTED__INIT;
	Claims__ClaimLine l[3], *lp[3] = {&l[0], &l[1], &l[2]};
	static const char *const cats[3] = {"CONSULT_GP", "PHARMA", "BIOLOGIE"};
	static const int64_t charged[3] = {3000, 1840, 2430};
	static const uint32_t rate[3] = {70, 65, 60};
	char ext[64], member[11], date[DATE_STR_LEN], id[UUID_STR_LEN];
	int32_t day;

	snprintf(ext, sizeof(ext), "bench-%s-%ld", run, i);
	membership_number_of(i % members + 1, member);
	/* Before 2026-07-01, when the seed's terminated contracts end: every
	 * claim is covered and gets a decision. */
	if (date_parse("2026-01-05", &day) != OK)
		return ERR;
	date_format(day + (int32_t)(i % 150), date);
	c.source = "bench";
	c.has_source_kind = 1;
	c.source_kind = CLAIMS__CLAIM_SOURCE__CLAIM_SOURCE_AMO;
	c.external_id = ext;
	c.membership_number = member;
	for (int k = 0; k < 3; k++) {
		claims__claim_line__init(&l[k]);
		l[k].category = (char *)cats[k];
		l[k].care_date = date;
		l[k].has_charged_cents = l[k].has_brss_cents = l[k].has_amo_rate = 1;
		l[k].charged_cents = charged[k];
		l[k].brss_cents = charged[k];
		l[k].amo_rate = rate[k];
	}
	c.n_lines = 3;
	c.lines = lp;
	return envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, &c.base, NULL, "bench", id, buf,
			     len);
}

/* ---- 1. Kafka raw produce ------------------------------------------------------ */

static int bench_kafka(const struct options *o, size_t size)
{
	struct kafka_producer *p;
	uint8_t *buf = xcalloc(1, size);
	int64_t start, elapsed;
	char key[24];
	long sent;
	int flushed;

	if (bench_ensure_topic(o->brokers, "bench.raw") != OK ||
	    kafka_producer_open(o->brokers, "bench", &p) != OK) {
		free(buf);
		return ERR;
	}
	randombytes_buf(buf, size); /* incompressible, like real envelopes mostly are */
	start = clock_mono_us();
	for (sent = 0; sent < o->claims; sent++) {
		snprintf(key, sizeof(key), "%ld", sent % 1000);
		if (kafka_produce(p, "bench.raw", key, strlen(key), buf, size) != OK)
			break;
	}
	/* Flushed even after a refusal, so that what was queued is not cut
	 * off; a rate is printed only when every message was delivered (the
	 * flush fails on any failed delivery): a rate over fewer messages, or
	 * over messages lost, is no ceiling. */
	flushed = kafka_producer_flush(p, 60000);
	elapsed = clock_mono_us() - start;
	if (sent < o->claims || flushed != OK) {
		log_error("kafka produce (raw): %ld of %ld messages queued, %s", sent, o->claims,
			  flushed == OK ? "the others refused" : "not all delivered");
		printf("kafka produce (raw)      failed: %ld of %ld messages queued%s\n", sent,
		       o->claims, flushed == OK ? "" : ", not all delivered");
	} else {
		printf("kafka produce (raw)      %8.0f msg/s   (%ld messages of %zu bytes, "
		       "acks=all, idempotent)\n",
		       (double)sent * 1e6 / (double)elapsed, sent, size);
	}
	kafka_producer_close(p);
	free(buf);
	return sent == o->claims && flushed == OK ? OK : ERR;
}

/* ---- 2. PostgreSQL COPY ----------------------------------------------------------- */

/* One COPY of n claims from ids, or of their 3 lines each. */
static int copy_rows(PGconn *conn, const char *table, char (*ids)[UUID_STR_LEN], long first, long n,
		     int lines)
{
	char sql[256], row[512];
	int status;

	if (lines)
		snprintf(sql, sizeof(sql),
			 "COPY %s (claim_id, line_no, category, care_date, quantity,"
			 " charged_cents, brss_cents, amo_rate) FROM STDIN",
			 table);
	else
		snprintf(sql, sizeof(sql),
			 "COPY %s (claim_id, source, source_kind, external_id, contract_id,"
			 " beneficiary_id, payee, status) FROM STDIN",
			 table);
	if (bench_copy_start(conn, sql) != OK)
		return ERR;
	status = OK;
	for (long i = 0; i < n && status == OK; i++) {
		for (int k = 0; k < (lines ? 3 : 1) && status == OK; k++) {
			int len;

			if (lines)
				len = snprintf(
					row, sizeof(row),
					"%s\t%d\tCONSULT_GP\t2026-06-01\t1\t3000\t3000\t70\n",
					ids[i], k + 1);
			else
				len = snprintf(row, sizeof(row),
					       "%s\tbench\tamo\tcopy-%ld\t1\t1\tmember\tqueued\n",
					       ids[i], first + i);
			status = bench_copy_row(conn, row, len);
		}
	}
	return bench_copy_finish(conn, status);
}

/*
 * The ceiling the daemons' writes are compared with, paying what theirs
 * pay but the checks of other tables: ordinary tables (WAL-logged, unlike
 * temporary ones) made LIKE claims and claim_lines INCLUDING ALL, so with
 * their primary keys, unique and other indexes, defaults and checks, but
 * without foreign keys (LIKE copies none, and the rows name no real
 * contract); a commit every --batch claims with their lines, as intake
 * and reimburse commit every CLAIMS_*_BATCH messages, each waiting for
 * its WAL flush (synchronous_commit on). The names are this run's, so
 * that runs side by side do not meet; the tables are dropped at the end,
 * failed or not.
 */
static int bench_copy(const struct options *o)
{
	struct pg *db;
	char run[UUID_STR_LEN], claims_t[48], lines_t[48], sql[256];
	char(*ids)[UUID_STR_LEN];
	int64_t start, elapsed;
	long commits = 0;
	int status = ERR;

	if (pg_open(o->dsn, &db) != OK)
		return ERR;
	uuid_v7(run);
	snprintf(claims_t, sizeof(claims_t), "bench_copy_claims_%.8s", run + 28);
	snprintf(lines_t, sizeof(lines_t), "bench_copy_lines_%.8s", run + 28);
	ids = xcalloc((size_t)o->batch, sizeof(*ids));
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE %s (LIKE claims INCLUDING ALL);"
		 "CREATE TABLE %s (LIKE claim_lines INCLUDING ALL)",
		 claims_t, lines_t);
	/* Set here, whatever the server's or the role's default. */
	if (pg_set(db, "synchronous_commit", "on") != OK || pg_exec(db, sql) != OK)
		goto out;
	start = clock_mono_us();
	for (long done = 0; done < o->claims; done += o->batch) {
		long n = o->claims - done < o->batch ? o->claims - done : o->batch;

		for (long i = 0; i < n; i++)
			uuid_v7(ids[i]);
		if (pg_begin(db) != OK)
			goto out;
		if (copy_rows(pg_conn(db), claims_t, ids, done, n, 0) != OK ||
		    copy_rows(pg_conn(db), lines_t, ids, done, n, 1) != OK || pg_commit(db) != OK) {
			pg_rollback(db);
			goto out;
		}
		commits++;
	}
	elapsed = clock_mono_us() - start;
	printf("postgres COPY (raw)      %8.0f claims/s (%ld claims + %ld lines, %.0f rows/s; "
	       "%ld commits of up to %ld claims, synchronous_commit on; tables LIKE claims, "
	       "claim_lines INCLUDING ALL: their indexes and checks, no foreign keys)\n",
	       (double)o->claims * 1e6 / (double)elapsed, o->claims, o->claims * 3,
	       (double)o->claims * 4 * 1e6 / (double)elapsed, commits, o->batch);
	status = OK;
out:
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s, %s", lines_t, claims_t);
	if (pg_exec(db, sql) != OK)
		log_error("tables %s and %s left behind: drop them by hand", claims_t, lines_t);
	pg_close(db);
	free(ids);
	return status;
}

/* ---- 3. end to end -------------------------------------------------------------------- */

enum { DECIDED = 1, NOT_COMPLETE };

struct e2e {
	int64_t *sent_at, *latency;
	int64_t *lag;		    /* paced: how late each claim left after its due time */
	char *state;		    /* per claim: 0 no event yet, DECIDED, or NOT_COMPLETE */
	long received;		    /* claims with an event, complete or not */
	long decided;		    /* of which complete, with a decision for each line */
	long partial, error, other; /* the others: other is no outcome, or not 3 lines */
	long sent;
	char run[16];
};

static long claim_index(const struct e2e *e, const char *external_id)
{
	char prefix[32];
	size_t n;

	snprintf(prefix, sizeof(prefix), "bench-%s-", e->run);
	n = strlen(prefix);
	if (external_id == NULL || strncmp(external_id, prefix, n) != 0)
		return -1;
	return strtol(external_id + n, NULL, 10);
}

static void collect(struct e2e *e, rd_kafka_message_t **batch, int n, long claims)
{
	int64_t now = clock_mono_us();

	for (int i = 0; i < n; i++) {
		struct envelope env;
		Claims__ReimbursementComputed *r;
		char why[160];
		long k;

		if (envelope_unpack(batch[i]->payload, batch[i]->len, &env, why, sizeof(why)) != OK)
			continue;
		r = claims__reimbursement_computed__unpack(NULL, env.payload_len, env.payload);
		k = r ? claim_index(e, r->external_id) : -1;
		/* Only a complete decision of every line is the work measured:
		 * a PARTIAL or ERROR outcome is quicker than a decision and would
		 * pass for throughput; it is counted apart and fails the run. */
		if (k >= 0 && k < claims && e->state[k] == 0) {
			e->received++;
			if (r->has_outcome && r->outcome == CLAIMS__OUTCOME__OUTCOME_COMPLETE &&
			    r->n_lines == 3) {
				e->latency[k] = now - e->sent_at[k];
				e->state[k] = DECIDED;
				e->decided++;
			} else {
				e->state[k] = NOT_COMPLETE;
				if (r->has_outcome &&
				    r->outcome == CLAIMS__OUTCOME__OUTCOME_PARTIAL)
					e->partial++;
				else if (r->has_outcome &&
					 r->outcome == CLAIMS__OUTCOME__OUTCOME_ERROR)
					e->error++;
				else
					e->other++;
			}
		}
		if (r != NULL)
			claims__reimbursement_computed__free_unpacked(r, NULL);
		envelope_free(&env);
	}
}

static int wait_assigned(struct kafka_consumer *c)
{
	rd_kafka_message_t *batch[16];
	int n;

	for (int i = 0; i < 200 && kafka_consumer_assigned(c) == 0; i++) {
		if (kafka_consumer_poll_batch(c, batch, 16, 50, &n) != OK)
			return ERR;
		kafka_batch_destroy(batch, n);
	}
	return kafka_consumer_assigned(c) > 0 ? OK : ERR;
}

static void report_e2e(struct e2e *e, long claims, long rate, int64_t elapsed, int64_t cpu_us)
{
	int64_t *sorted = xcalloc((size_t)e->decided + 1, sizeof(*sorted));
	long n = 0;

	for (long i = 0; i < claims; i++)
		if (e->state[i] == DECIDED)
			sorted[n++] = e->latency[i];
	qsort(sorted, (size_t)n, sizeof(*sorted), compare_i64);
	printf("end to end%-14s %8.0f claims/s (%ld of %ld claims of 3 lines decided "
	       "complete in %.1f s)\n",
	       rate > 0 ? " (paced)" : "", (double)n * 1e6 / (double)elapsed, n, claims,
	       (double)elapsed / 1e6);
	if (e->received > e->decided)
		printf("NOT complete, not counted above: %ld claims (%ld PARTIAL, %ld ERROR, %ld "
		       "without an outcome or without 3 line decisions)\n",
		       e->received - e->decided, e->partial, e->error, e->other);
	if (e->received < claims)
		printf("no decision read back: %ld claims\n", claims - e->received);
	if (n > 0)
		printf("end-to-end latency       p50 %.1f ms   p99 %.1f ms   p99.9 %.1f ms   max "
		       "%.1f ms\n",
		       percentile_ms(sorted, n, 0.50), percentile_ms(sorted, n, 0.99),
		       percentile_ms(sorted, n, 0.999), (double)sorted[n - 1] / 1000.0);
	if (rate > 0 && e->sent > 0) {
		qsort(e->lag, (size_t)e->sent, sizeof(*e->lag), compare_i64);
		printf("sender behind schedule   p50 %.1f ms   p99 %.1f ms   max %.1f ms "
		       "(latency counted from each claim's due time)\n",
		       percentile_ms(e->lag, e->sent, 0.50), percentile_ms(e->lag, e->sent, 0.99),
		       (double)e->lag[e->sent - 1] / 1000.0);
	}
	/* The load generator shares the machine with what it measures. */
	if (n > 0)
		printf("this program's CPU      %ld µs a claim (%.0f %% of a core: sending, "
		       "reading back)\n",
		       (long)(cpu_us / n), 100.0 * (double)cpu_us / (double)elapsed);
	free(sorted);
}

static int bench_e2e(const struct options *o)
{
	const char *topics[1] = {"reimbursements.computed"};
	struct e2e e = {0};
	struct kafka_consumer *c;
	struct kafka_producer *p;
	rd_kafka_message_t *batch[1000];
	char group[64], id[UUID_STR_LEN];
	int64_t start, idle_since, cpu_start;
	int status = ERR, n;

	uuid_v7(id);
	snprintf(e.run, sizeof(e.run), "%.8s", id + 28);
	snprintf(group, sizeof(group), "bench-%s", e.run);
	e.sent_at = xcalloc((size_t)o->claims, sizeof(int64_t));
	e.latency = xcalloc((size_t)o->claims, sizeof(int64_t));
	e.lag = xcalloc((size_t)o->claims, sizeof(int64_t));
	e.state = xcalloc((size_t)o->claims, 1);
	if (kafka_consumer_open(o->brokers, group, topics, 1, &c) != OK)
		goto out;
	/* Wait for the partitions, starting at their end: the events of
	 * earlier runs are not read (decoding them would count as latency). */
	kafka_consumer_from_end(c);
	if (wait_assigned(c) != OK || kafka_producer_open(o->brokers, "bench", &p) != OK) {
		kafka_consumer_close(c);
		goto out;
	}
	start = clock_mono_us();
	cpu_start = process_cpu_us();
	for (long i = 0; i < o->claims; i++) {
		uint8_t *buf;
		size_t len;
		char member[11];

		/* At a given rate, claim i is due at start + i / rate: latency is
		 * then measured below saturation, not as a queue's length. */
		int64_t due = o->rate > 0 ? start + i * 1000000 / o->rate : 0, now;

		while (o->rate > 0 && clock_mono_us() < due) {
			if (kafka_consumer_poll_batch(c, batch, 1000, 1, &n) == OK) {
				collect(&e, batch, n, o->claims);
				kafka_batch_destroy(batch, n);
			}
		}
		membership_number_of(i % o->members + 1, member);
		if (pack_claim(e.run, i, o->members, &buf, &len) != OK)
			break;
		/* Paced, latency runs from the due time, not the send: a sender
		 * held up (its own reading back, a full producer queue) would
		 * otherwise leave out the wait of the claims due meanwhile,
		 * which a real sender would not have held back (coordinated
		 * omission). How late the sender was is reported. */
		now = clock_mono_us();
		e.sent_at[i] = o->rate > 0 ? due : now;
		if (o->rate > 0)
			e.lag[e.sent++] = now - due;
		n = kafka_produce(p, "claims.submitted", member, strlen(member), buf, len);
		free(buf);
		if (n != OK)
			break;
		if (i % 1000 == 999 && kafka_consumer_poll_batch(c, batch, 1000, 0, &n) == OK) {
			collect(&e, batch, n, o->claims);
			kafka_batch_destroy(batch, n);
		}
	}
	if (kafka_producer_flush(p, 60000) != OK)
		log_warn("some claims were not delivered");
	idle_since = clock_mono_us();
	while (e.received < o->claims && clock_mono_us() - idle_since < 30000000) {
		long before = e.received;

		if (kafka_consumer_poll_batch(c, batch, 1000, 100, &n) != OK)
			break;
		collect(&e, batch, n, o->claims);
		kafka_batch_destroy(batch, n);
		if (e.received > before)
			idle_since = clock_mono_us();
	}
	report_e2e(&e, o->claims, o->rate, clock_mono_us() - start, process_cpu_us() - cpu_start);
	status = e.decided == o->claims ? OK : ERR;
	kafka_producer_close(p);
	kafka_consumer_close(c);
out:
	free(e.sent_at);
	free(e.latency);
	free(e.lag);
	free(e.state);
	return status;
}

static size_t claim_size(long members)
{
	uint8_t *buf;
	size_t len = 0;

	if (pack_claim("00000000", 123456, members, &buf, &len) == OK)
		free(buf);
	return len;
}

int main(int argc, char **argv)
{
	struct options o = {20000, 1000, 0, 500, 0, 0, NULL, NULL};
	int status = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--claims") == 0 && i + 1 < argc) {
			o.claims = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
			o.members = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
			o.batch = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc) {
			o.rate = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--skip-raw") == 0) {
			o.skip_raw = 1;
		} else if (strcmp(argv[i], "--skip-e2e") == 0) {
			o.skip_e2e = 1;
		} else {
			printf("Usage: bench_pipeline [--claims N] [--members M] [--rate R] "
			       "[--batch B] [--skip-raw] [--skip-e2e]\n\n"
			       "Kafka produce and PostgreSQL COPY rates, then end-to-end claims/s "
			       "and\n"
			       "latency through the running intake and reimburse daemons; with "
			       "--rate,\n"
			       "claims are sent at R per second (latency below saturation); the "
			       "COPY\n"
			       "commits every B claims (default 500, as the daemons).\n"
			       "  CLAIMS_KAFKA_BROKERS  [127.0.0.1:59092]\n"
			       "  CLAIMS_PG_DSN         "
			       "[postgresql://claims@127.0.0.1:55432/claims]\n");
			return strcmp(argv[i], "--help") == 0 ? 0 : 2;
		}
	}
	if (o.claims < 1 || o.members < 1 || o.batch < 1)
		return 2;
	if (log_init("bench") != OK)
		return 2;
	o.brokers =
		getenv("CLAIMS_KAFKA_BROKERS") ? getenv("CLAIMS_KAFKA_BROKERS") : "127.0.0.1:59092";
	o.dsn = getenv("CLAIMS_PG_DSN") ? getenv("CLAIMS_PG_DSN")
					: "postgresql://claims@127.0.0.1:55432/claims";
	printf("bench_pipeline: %ld claims of 3 lines (%zu-byte envelopes), %ld members\n",
	       o.claims, claim_size(o.members), o.members);
	/* Both ceilings, even when the first fails: each is told on its own. */
	if (!o.skip_raw && bench_kafka(&o, claim_size(o.members)) != OK)
		status = 1;
	if (!o.skip_raw && bench_copy(&o) != OK)
		status = 1;
	if (!o.skip_e2e && bench_e2e(&o) != OK)
		status = 1;
	return status;
}
