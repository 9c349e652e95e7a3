/*
 * NAME
 *	intake - accept claim submissions from Kafka and from a ZeroMQ socket
 *
 * SYNOPSIS
 *	intake [--help] [--version]
 *
 * DESCRIPTION
 *	Consumes Envelope(CLAIM_SUBMITTED) from claims.submitted (consumer
 *	group "intake") and serves the same submissions synchronously on a
 *	ZeroMQ ROUTER socket. Each submission is checked, deduplicated on
 *	(source, external_id) and recorded with its event in one PostgreSQL
 *	transaction: claims.accepted keyed by contract id, or claims.rejected
 *	with a reason code. Bytes that do not decode, or an envelope of
 *	another type, go whole to claims.submitted.dlq. See
 *	docs/architecture.md and docs/protocol.md.
 *
 * DIAGNOSTICS
 *	JSON log lines on stderr; metrics and /health on CLAIMS_METRICS_ADDR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/params.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "intake/intake.h"

static struct {
	char *pg_dsn, *brokers, *metrics_addr, *endpoint, *group, *params_path;
	long batch, batch_mib;
} cfg;

static const struct config_entry config_table[] = {
	CONFIG_PG_DSN(&cfg.pg_dsn),
	CONFIG_KAFKA_BROKERS(&cfg.brokers),
	CONFIG_METRICS_ADDR(&cfg.metrics_addr, "127.0.0.1:9101"),
	{"CLAIMS_INTAKE_ENDPOINT", CONFIG_STRING, &cfg.endpoint, "tcp://127.0.0.1:5701", 0, 0,
	 "ZeroMQ endpoint of the synchronous submission socket; empty: off"},
	{"CLAIMS_INTAKE_GROUP", CONFIG_STRING, &cfg.group, "intake", 0, 0,
	 "Kafka consumer group of claims.submitted"},
	{"CLAIMS_INTAKE_BATCH", CONFIG_INT, &cfg.batch, "500", 1, 10000,
	 "submissions per PostgreSQL transaction"},
	{"CLAIMS_INTAKE_BATCH_MIB", CONFIG_INT, &cfg.batch_mib, INTAKE_BATCH_DECODED_MIB, 1, 128,
	 "MiB a batch may hold decoded before it is decided in parts (memory bound)"},
	{"CLAIMS_RULES_PARAMS", CONFIG_STRING, &cfg.params_path, PARAMS_DEFAULT_PATH, 0, 0,
	 "dated parameters of the rules engine: the PF and franchises an AMO amount may lack"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};

struct intake_daemon {
	struct rules_params *params;
	struct worker *worker;
	struct intake_socket *socket;
	struct pg *socket_db;  /* the socket's own connection: its commits are its own */
	struct metric *splits; /* batches decided in parts (decoded_max) */
	size_t decoded_max;    /* CLAIMS_INTAKE_BATCH_MIB, in bytes */
};

static struct intake_daemon state;

struct decoded {
	struct pb_budget budget; /* env and claim free through it: outlives them */
	struct envelope env;
	Claims__ClaimSubmitted *claim;
};

/* Decode one message; what does not decode goes to the DLQ (same transaction). */
static int decode(struct pg *db, rd_kafka_message_t *m, struct decoded *d)
{
	char why[200];

	memset(d, 0, sizeof(*d));
	if (envelope_unpack_budgeted(&d->budget, m->payload, m->len, &d->env, why, sizeof(why)) !=
	    OK)
		goto dead;
	if (d->env.type != CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED) {
		snprintf(why, sizeof(why), "expected CLAIM_SUBMITTED, got %s",
			 envelope_type_name(d->env.type));
		goto dead;
	}
	if (intake_decode_claim(&d->budget, &d->env, &d->claim, why, sizeof(why)) == OK)
		return OK;
dead:
	return worker_dead_letter(db, "intake", m, why);
}

/* A message refused for a reason that may pass (QUOTE_UNKNOWN), nothing
 * recorded under its key: kept in the DLQ with its answer, to replay
 * (claimctl dlq replay) once the reason is gone. Same transaction. */
static int keep_unrecorded(struct pg *db, rd_kafka_message_t *m, const struct intake_item *it)
{
	char why[400];

	snprintf(why, sizeof(why), "%s %s: %s", it->out.reason_code, it->out.field,
		 it->out.message);
	return worker_dead_letter(db, "intake", m, why);
}

static void release(struct decoded *d)
{
	if (d->claim != NULL)
		claims__claim_submitted__free_unpacked(d->claim, &d->budget.allocator);
	d->claim = NULL;
	envelope_free(&d->env);
}

/* A message whose key was answered for other content: given the first
 * answer (it creates nothing), and kept whole in the DLQ with why, so
 * that what it said is not lost without a trace (a key reused by its
 * sender for another claim). Same transaction. */
static int keep_reused_key(struct pg *db, rd_kafka_message_t *m, const struct intake_item *it)
{
	char why[600], key[300];

	/* Without a key, the submission is named by its message id. */
	if (it->s->source != NULL && it->s->external_id != NULL)
		snprintf(key, sizeof(key), "key (source %s, external id %s)", it->s->source,
			 it->s->external_id);
	else
		snprintf(key, sizeof(key), "message id %s",
			 it->message_id != NULL ? it->message_id : "(none)");
	snprintf(why, sizeof(why),
		 "%s already answered for other content (first answer: %s %s); nothing of this"
		 " submission recorded",
		 key, it->out.accepted ? "accepted" : "rejected",
		 it->out.accepted ? it->out.claim_id : it->out.reason_code);
	log_warn("%s", why);
	return worker_dead_letter(db, "intake", m, why);
}

/* Decides the submissions decoded so far, items[0..count), batch[message_of[k]]
 * the message of items[k]. */
static int decide(struct pg *db, rd_kafka_message_t **batch, struct intake_item *items,
		  const int *message_of, int count)
{
	int status = count > 0 ? intake_submit_batch(db, items, count) : OK;

	for (int k = 0; k < count && status == OK; k++) {
		if (items[k].out.content_differs)
			status = keep_reused_key(db, batch[message_of[k]], &items[k]);
		else if (items[k].out.unrecorded)
			status = keep_unrecorded(db, batch[message_of[k]], &items[k]);
	}
	return status;
}

/* Decodes the batch and decides it in one call, unless what it holds
 * decoded passes CLAIMS_INTAKE_BATCH_MIB: then the submissions decoded
 * so far are decided and freed first, in the same transaction (a later
 * copy of one of their keys reads their answer, the transaction's own),
 * and each such split counted (intake_batch_splits_total). Each part
 * takes its keys' locks in their order, but two parts need not be in
 * order with each other: two replicas splitting batches of the same keys
 * may meet in a deadlock, which PostgreSQL ends, and the batch is tried
 * again (a key is one sender's: its copies are on one partition). */
static int handle_batch(void *ctx, struct pg *db, rd_kafka_message_t **batch, int n)
{
	struct intake_daemon *st = ctx;
	struct decoded *d = xcalloc((size_t)n, sizeof(*d));
	struct intake_item *items = xcalloc((size_t)n, sizeof(*items));
	int *message_of = xcalloc((size_t)n, sizeof(*message_of));
	int count = 0, first = 0, status = OK;
	size_t held = 0;

	/* One handle per transaction: what an earlier try tallied is gone
	 * with it, even when this one holds no claim to decide. */
	intake_count_discard();
	for (int i = 0; i < n && status == OK; i++) {
		status = decode(db, batch[i], &d[i]);
		if (status == OK && d[i].claim == NULL)
			release(&d[i]); /* dead-lettered: its envelope is not kept */
		if (status != OK || d[i].claim == NULL)
			continue;
		items[count].s = d[i].claim;
		items[count].trace_id = d[i].env.trace_id;
		items[count].message_id = d[i].env.message_id;
		message_of[count] = i;
		count++;
		held += d[i].budget.used;
		if (held > st->decoded_max && i + 1 < n) {
			metric_add(st->splits, 1);
			status = decide(db, batch, items, message_of, count);
			for (; first <= i; first++)
				release(&d[first]);
			memset(items, 0, (size_t)count * sizeof(*items));
			count = 0;
			held = 0;
		}
	}
	if (status == OK)
		status = decide(db, batch, items, message_of, count);
	for (int i = first; i < n; i++)
		release(&d[i]);
	free(message_of);
	free(items);
	free(d);
	return status;
}

static void batch_committed(void *ctx)
{
	UNUSED(ctx);
	intake_count_committed();
}

static int prepare(void *ctx, struct pg *db)
{
	UNUSED(ctx);
	return intake_prepare(db);
}

/* --plans: the worker's session and the socket's prepare the same
 * statements; the relay's has its own. */
static int prepare_all(struct pg *db)
{
	if (outbox_prepare(db) != OK || intake_prepare(db) != OK || outbox_relay_prepare(db) != OK)
		return ERR;
	return OK;
}

static int intake_init(void *ctx)
{
	struct intake_daemon *st = ctx;
	struct worker_config wc = {
		.brokers = cfg.brokers,
		.dsn = cfg.pg_dsn,
		.group = cfg.group,
		.topic = "claims.submitted",
		.name = "intake",
		.batch = (int)cfg.batch,
		.poll_ms = 20,
		.prepare = prepare,
		.handle = handle_batch,
		.committed = batch_committed,
		.ctx = st,
	};

	st->decoded_max = (size_t)cfg.batch_mib << 20;
	st->splits = metric_counter(
		"intake_batch_splits_total",
		"Batches decided in parts: what they held decoded passed CLAIMS_INTAKE_BATCH_MIB");
	st->params = xmalloc(sizeof(*st->params));
	if (params_load(cfg.params_path, st->params) != OK)
		return ERR;
	intake_check_use_params(st->params);
	if (worker_open(&wc, &st->worker) != OK)
		return ERR;
	if (cfg.endpoint[0] == '\0')
		return OK;
	if (pg_open(cfg.pg_dsn, &st->socket_db) != OK || outbox_prepare(st->socket_db) != OK ||
	    intake_prepare(st->socket_db) != OK ||
	    intake_socket_open(cfg.endpoint, &st->socket) != OK)
		return ERR;
	return OK;
}

static int intake_step(void *ctx)
{
	struct intake_daemon *st = ctx;
	int served = 0, db_up = 1;

	if (st->socket != NULL) {
		/* With the database away, the waiting senders still get an
		 * answer (UNAVAILABLE) before the daemon backs off. A request
		 * whose transaction failed was answered too; it does not keep
		 * the Kafka side from its turn, nor count as a failed step
		 * unless the socket's connection is down. */
		db_up = pg_check(st->socket_db) == OK;
		if (intake_socket_serve(st->socket, db_up ? st->socket_db : NULL, 64, 0, &served) !=
		    OK)
			return ERR;
		if (served > 0)
			worker_relay_kick(st->worker);
	}
	if (worker_step(st->worker) != OK)
		return ERR;
	return db_up ? OK : ERR;
}

/* The socket first: bound while nothing reads it (the drain takes up to
 * some 20 s), it held the front doors' connections, and their invoices
 * timed out; closed, a front door connects to another replica (it
 * reaches intake through one address) and is answered there. What was
 * waiting in it unread is answered by no one: its senders' timeouts
 * send it again, with the same key (nothing twice). */
static int intake_drain(void *ctx)
{
	struct intake_daemon *st = ctx;

	intake_socket_close(st->socket);
	st->socket = NULL;
	return worker_drain(st->worker);
}

static void intake_cleanup(void *ctx)
{
	struct intake_daemon *st = ctx;

	intake_socket_close(st->socket);
	pg_close(st->socket_db);
	worker_close(st->worker);
	intake_check_use_params(NULL);
	free(st->params);
}

static const char *intake_health(void *ctx)
{
	struct intake_daemon *st = ctx;

	return worker_health(st->worker);
}

static const struct daemon_spec spec = {
	.name = "intake",
	.summary = "Accepts claim submissions from Kafka (claims.submitted) and from a ZeroMQ\n"
		   "socket, checks and deduplicates them, records accepted claims with their\n"
		   "claims.accepted event (or the rejection and its reason) in one transaction.",
	.config = config_table,
	.metrics_addr = &cfg.metrics_addr,
	.init = intake_init,
	.step = intake_step,
	.drain = intake_drain,
	.cleanup = intake_cleanup,
	.health = intake_health,
	.ctx = &state,
	.pg_dsn = &cfg.pg_dsn,
	.prepare_all = prepare_all,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spec);
}
