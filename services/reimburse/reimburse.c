/*
 * NAME
 *	reimburse - compute the reimbursement of accepted claims
 *
 * SYNOPSIS
 *	reimburse [--help] [--version]
 *
 * DESCRIPTION
 *	Consumes Envelope(CLAIM_ACCEPTED) from claims.accepted in consumer
 *	group "reimburse"; any number of replicas share its partitions, and
 *	since the topic is keyed by contract id, one contract's claims are
 *	decided in order by one replica at a time (annual caps and renewal
 *	periods are consumed without races). For each claim the rules engine
 *	(services/rules) computes AMO, AMC and reste à charge per line; the
 *	decision, the consumption counters, the payment and the
 *	reimbursements.computed event are committed in one transaction, and
 *	the offsets move only after that commit.
 *
 * DIAGNOSTICS
 *	JSON log lines on stderr; metrics and /health on CLAIMS_METRICS_ADDR.
 *	Messages that can never be decided go to claims.accepted.dlq.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/params.h"
#include "common/util.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "reimburse/reimburse.h"
#include "rules/rules_json.h"

static struct {
	char *pg_dsn, *brokers, *metrics_addr, *group, *params_path, *quote_connect;
	long batch, reload_seconds;
} cfg;

static const struct config_entry config_table[] = {
	CONFIG_PG_DSN(&cfg.pg_dsn),
	CONFIG_KAFKA_BROKERS(&cfg.brokers),
	CONFIG_METRICS_ADDR(&cfg.metrics_addr, "127.0.0.1:9102"),
	{"CLAIMS_REIMBURSE_GROUP", CONFIG_STRING, &cfg.group, "reimburse", 0, 0,
	 "Kafka consumer group of claims.accepted"},
	{"CLAIMS_REIMBURSE_BATCH", CONFIG_INT, &cfg.batch, "500", 1, 10000,
	 "claims per PostgreSQL transaction"},
	{"CLAIMS_RULES_PARAMS", CONFIG_STRING, &cfg.params_path, PARAMS_DEFAULT_PATH, 0, 0,
	 "dated parameters of the rules engine (PF, franchises, tariffs...)"},
	{"CLAIMS_FORMULA_RELOAD", CONFIG_INT, &cfg.reload_seconds, "60", 1, 86400,
	 "seconds between periodic reloads of formula versions (a change the database"
	 " announces is read at once)"},
	{"CLAIMS_QUOTE_CONNECT", CONFIG_STRING, &cfg.quote_connect, "tcp://127.0.0.1:5703", 0, 0,
	 "tiers-payant front doors to serve quotes to (comma-separated); empty: no quotes"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};

struct reimburse_state {
	struct worker *worker;
	struct rules_params *params;
	struct reimburse_ctx ctx;
	struct quote_server *quotes;
};

static struct reimburse_state state;

/* Decode what can be decoded; refuse the rest with its reason. */
static void decode(struct reimburse_item *it, rd_kafka_message_t *m)
{
	memset(it, 0, sizeof(*it));
	it->msg = m;
	if (envelope_unpack(m->payload, m->len, &it->env, it->poison, sizeof(it->poison)) != OK)
		return;
	if (it->env.type != CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED) {
		snprintf(it->poison, sizeof(it->poison), "expected CLAIM_ACCEPTED, got %s",
			 envelope_type_name(it->env.type));
		return;
	}
	it->claim = claims__claim_accepted__unpack(NULL, it->env.payload_len, it->env.payload);
	if (it->claim == NULL)
		snprintf(it->poison, sizeof(it->poison), "payload is not a ClaimAccepted");
}

static int handle_batch(void *ctx, struct pg *db, rd_kafka_message_t **batch, int n)
{
	struct reimburse_state *st = ctx;
	struct reimburse_item *items = xcalloc((size_t)n, sizeof(*items));
	int status;

	for (int i = 0; i < n; i++)
		decode(&items[i], batch[i]);
	status = reimburse_batch(&st->ctx, db, items, n);
	for (int i = 0; i < n && status == OK; i++)
		if (items[i].poison[0] != '\0')
			status = worker_dead_letter(db, "reimburse", items[i].msg, items[i].poison);
	for (int i = 0; i < n; i++) {
		if (items[i].claim != NULL)
			claims__claim_accepted__free_unpacked(items[i].claim, NULL);
		envelope_free(&items[i].env);
	}
	free(items);
	return status;
}

static void batch_committed(void *ctx)
{
	struct reimburse_state *st = ctx;

	reimburse_count_committed(&st->ctx);
}

static int prepare(void *ctx, struct pg *db)
{
	UNUSED(ctx);
	return reimburse_prepare(db);
}

/* --plans: the worker's session, the quote thread's (the same and
 * quote_store) and the relay's. */
static int prepare_all(struct pg *db)
{
	if (outbox_prepare(db) != OK || reimburse_prepare(db) != OK || quote_prepare(db) != OK ||
	    outbox_relay_prepare(db) != OK)
		return ERR;
	return OK;
}

static int reimburse_init(void *ctx)
{
	struct reimburse_state *st = ctx;
	struct worker_config wc = {
		.brokers = cfg.brokers,
		.dsn = cfg.pg_dsn,
		.group = cfg.group,
		.topic = "claims.accepted",
		.name = "reimburse",
		.batch = (int)cfg.batch,
		.poll_ms = 100,
		.prepare = prepare,
		.handle = handle_batch,
		.committed = batch_committed,
		.ctx = st,
	};

	st->params = xmalloc(sizeof(*st->params));
	if (params_load(cfg.params_path, st->params) != OK)
		return ERR;
	st->ctx.params = st->params;
	/* Listening before the first load: a change made in between is heard. */
	if (worker_open(&wc, &st->worker) != OK ||
	    pg_listen(worker_db(st->worker), FORMULAS_CHANNEL) != OK ||
	    formulas_load(worker_db(st->worker), &st->ctx.formulas) != OK)
		return ERR;
	if (cfg.quote_connect[0] == '\0')
		return OK;
	return quote_server_start(cfg.pg_dsn, cfg.quote_connect, st->params, cfg.reload_seconds,
				  &st->quotes);
}

static int reimburse_step(void *ctx)
{
	struct reimburse_state *st = ctx;

	if (clock_mono_us() - st->ctx.formulas.loaded_at_us > cfg.reload_seconds * 1000000 &&
	    formulas_load(worker_db(st->worker), &st->ctx.formulas) != OK) {
		/* Not again at every step: at the next period. */
		st->ctx.formulas.loaded_at_us = clock_mono_us();
		log_warn("formula reload failed; keeping the versions loaded before");
	}
	return worker_step(st->worker);
}

static int reimburse_drain(void *ctx)
{
	struct reimburse_state *st = ctx;

	return worker_drain(st->worker);
}

static void reimburse_cleanup(void *ctx)
{
	struct reimburse_state *st = ctx;

	quote_server_stop(st->quotes);
	worker_close(st->worker);
	formulas_free(&st->ctx.formulas);
	free(st->params);
}

static const char *reimburse_health(void *ctx)
{
	struct reimburse_state *st = ctx;

	return worker_health(st->worker);
}

static const struct daemon_spec spec = {
	.name = "reimburse",
	.summary = "Computes the reimbursement of accepted claims (claims.accepted) with the\n"
		   "rules engine and records decisions, consumption counters, payments and the\n"
		   "reimbursements.computed event in one transaction per batch.",
	.config = config_table,
	.metrics_addr = &cfg.metrics_addr,
	.init = reimburse_init,
	.step = reimburse_step,
	.drain = reimburse_drain,
	.cleanup = reimburse_cleanup,
	.health = reimburse_health,
	.ctx = &state,
	.pg_dsn = &cfg.pg_dsn,
	.prepare_all = prepare_all,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spec);
}
