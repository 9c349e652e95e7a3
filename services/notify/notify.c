/*
 * NAME
 *	notify - tell members about their reimbursements and payments
 *
 * SYNOPSIS
 *	notify [--help] [--version] [--plans]
 *
 * DESCRIPTION
 *	Consumes reimbursements.computed and payments.settled in consumer
 *	group "notify"; any number of replicas share their partitions. For
 *	each event that concerns a member (notify_decode.c) it records one
 *	in-app notification in PostgreSQL, keyed by the event, so that a
 *	redelivered event tells the member nothing twice; the offsets move
 *	only after that commit. Then it announces the batch's new
 *	notifications on Redis, on each member's channel, for the online
 *	account's open pages (notify_push.c).
 *
 * DIAGNOSTICS
 *	JSON log lines on stderr; metrics and /health on CLAIMS_METRICS_ADDR.
 *	Events that can never be told (bytes that do not decode, an unknown
 *	claim) go to <topic>.dlq with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/redis_conn.h"
#include "common/util.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "notify/notify.h"

static struct {
	char *pg_dsn, *brokers, *redis_url, *metrics_addr, *group;
	long batch, max_age_hours;
	int new_group_from_start;
} cfg;

static const struct config_entry config_table[] = {
	CONFIG_PG_DSN(&cfg.pg_dsn),
	CONFIG_KAFKA_BROKERS(&cfg.brokers),
	CONFIG_REDIS_URL(&cfg.redis_url),
	CONFIG_METRICS_ADDR(&cfg.metrics_addr, "127.0.0.1:9106"),
	{"CLAIMS_NOTIFY_GROUP", CONFIG_STRING, &cfg.group, "notify", 0, 0,
	 "Kafka consumer group of reimbursements.computed and payments.settled"},
	{"CLAIMS_NOTIFY_BATCH", CONFIG_INT, &cfg.batch, "500", 1, 10000,
	 "events per PostgreSQL transaction"},
	{"CLAIMS_NOTIFY_MAX_AGE_HOURS", CONFIG_INT, &cfg.max_age_hours, "168", 0, 87600,
	 "events older than this are not told (a backlog of days); 0: any age"},
	{"CLAIMS_NOTIFY_NEW_GROUP_FROM_START", CONFIG_BOOL, &cfg.new_group_from_start, "false", 0,
	 0,
	 "a group with no committed offsets reads the topics from their start (a replay)"
	 " rather than their end (a first deployment tells nothing of what the topics"
	 " kept)"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};

static const char *const more_topics[] = {"payments.settled", NULL};

static struct notify_state {
	struct worker *worker;
	struct redis_conn *redis;
	/* Of the batch last handled, counted once it commits. */
	struct notify_pushes pushes;
	int repeated, skipped[NOTIFY_SKIP_COUNT];
	struct metric *recorded_total, *repeated_total, *skipped_total[NOTIFY_SKIP_COUNT];
	struct metric *pushed_total, *push_failed_total;
} state;

/* What became of the batch's events, for the metrics. */
static void tally(struct notify_state *st, const struct notify_item *items, int n)
{
	st->repeated = 0;
	memset(st->skipped, 0, sizeof(st->skipped));
	for (int i = 0; i < n; i++) {
		if (items[i].poison[0] != '\0')
			continue;
		if (items[i].skip != NOTIFY_SKIP_NONE)
			st->skipped[items[i].skip]++;
		else if (items[i].push == NULL)
			st->repeated++;
	}
}

static int handle_batch(void *ctx, struct pg *db, rd_kafka_message_t **batch, int n)
{
	struct notify_state *st = ctx;
	struct notify_item *items = xcalloc((size_t)n, sizeof(*items));
	int64_t now_us = clock_now_us(), max_age_us = cfg.max_age_hours * 3600 * INT64_C(1000000);
	int status;

	/* A batch tried again (one message at a time after a failure) must
	 * not announce what its first try would have. */
	notify_pushes_clear(&st->pushes);
	for (int i = 0; i < n; i++) {
		items[i].msg = batch[i];
		notify_decode(&items[i], now_us, max_age_us);
	}
	status = notify_record(db, items, n);
	for (int i = 0; i < n && status == OK; i++)
		if (items[i].poison[0] != '\0')
			status = worker_dead_letter(db, "notify", items[i].msg, items[i].poison);
	if (status == OK) {
		tally(st, items, n);
		notify_pushes_take(&st->pushes, items, n);
	}
	for (int i = 0; i < n; i++)
		notify_item_free(&items[i]);
	free(items);
	return status;
}

/* After the commit: counted (a batch tried again counts once), then
 * announced. */
static void batch_committed(void *ctx)
{
	struct notify_state *st = ctx;
	int delivered = 0;

	metric_add(st->recorded_total, st->pushes.count);
	metric_add(st->repeated_total, st->repeated);
	for (int k = 1; k < NOTIFY_SKIP_COUNT; k++)
		metric_add(st->skipped_total[k], st->skipped[k]);
	if (st->pushes.count == 0)
		return;
	if (notify_push(st->redis, &st->pushes, &delivered) != OK)
		log_warn("%d of %d notifications not announced on Redis (recorded all the same)",
			 st->pushes.count - delivered, st->pushes.count);
	metric_add(st->pushed_total, delivered);
	metric_add(st->push_failed_total, st->pushes.count - delivered);
	notify_pushes_clear(&st->pushes);
}

static int prepare(void *ctx, struct pg *db)
{
	UNUSED(ctx);
	return notify_prepare(db);
}

static int prepare_all(struct pg *db)
{
	if (outbox_prepare(db) != OK || notify_prepare(db) != OK || outbox_relay_prepare(db) != OK)
		return ERR;
	return OK;
}

static void make_metrics(struct notify_state *st)
{
	st->recorded_total =
		metric_counter("notify_recorded_total",
			       "Notifications recorded (one per event that concerns a member)");
	st->repeated_total =
		metric_counter("notify_repeated_total",
			       "Events read again whose notification was recorded before");
	st->skipped_total[NOTIFY_SKIP_PROFESSIONAL] =
		metric_counter("notify_skipped_total{reason=\"professional_payee\"}",
			       "Events that tell the member nothing");
	st->skipped_total[NOTIFY_SKIP_TOO_OLD] = metric_counter(
		"notify_skipped_total{reason=\"too_old\"}", "Events that tell the member nothing");
	st->pushed_total =
		metric_counter("notify_pushed_total", "Notifications announced on Redis");
	st->push_failed_total =
		metric_counter("notify_push_failures_total",
			       "Notifications recorded but not announced (Redis away or refusing)");
}

static int notify_init(void *ctx)
{
	struct notify_state *st = ctx;
	struct worker_config wc = {
		.brokers = cfg.brokers,
		.dsn = cfg.pg_dsn,
		.group = cfg.group,
		.topic = "reimbursements.computed",
		.more_topics = more_topics,
		.new_group_at_end = !cfg.new_group_from_start,
		.name = "notify",
		.batch = (int)cfg.batch,
		.poll_ms = 100,
		.prepare = prepare,
		.handle = handle_batch,
		.committed = batch_committed,
		.ctx = st,
	};

	make_metrics(st);
	/* Redis is only the announcement: notify starts while it is away,
	 * and a batch's PUBLISH connects (at most one attempt a second). */
	if (redis_open_later(cfg.redis_url, 250, &st->redis) != OK)
		return ERR;
	return worker_open(&wc, &st->worker);
}

static int notify_step(void *ctx)
{
	struct notify_state *st = ctx;

	return worker_step(st->worker);
}

static int notify_drain(void *ctx)
{
	struct notify_state *st = ctx;

	return worker_drain(st->worker);
}

static void notify_cleanup(void *ctx)
{
	struct notify_state *st = ctx;

	worker_close(st->worker);
	redis_close(st->redis);
	notify_pushes_clear(&st->pushes);
	free(st->pushes.member_ids);
	free(st->pushes.texts);
}

static const char *notify_health(void *ctx)
{
	struct notify_state *st = ctx;

	return worker_health(st->worker);
}

static const struct daemon_spec spec = {
	.name = "notify",
	.summary = "Records an in-app notification for each reimbursement decided\n"
		   "(reimbursements.computed) and each payment made to or returned by a\n"
		   "member's bank (payments.settled), once per event, and announces it on\n"
		   "the member's Redis channel member:<member_id>:notifications.",
	.config = config_table,
	.metrics_addr = &cfg.metrics_addr,
	.init = notify_init,
	.step = notify_step,
	.drain = notify_drain,
	.cleanup = notify_cleanup,
	.health = notify_health,
	.ctx = &state,
	.pg_dsn = &cfg.pg_dsn,
	.prepare_all = prepare_all,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spec);
}
