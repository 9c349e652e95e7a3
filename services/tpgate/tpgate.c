/*
 * NAME
 *	tpgate - the tiers-payant front door for health professionals
 *
 * SYNOPSIS
 *	tpgate [--help] [--version]
 *
 * DESCRIPTION
 *	Pharmacies, opticians, dentists and hospitals ask, for the patient
 *	in front of them: are the rights open (ELIGIBILITY), how much will
 *	the mutuelle pay (QUOTE), pay me this invoice (INVOICE), where is my
 *	invoice (INVOICE_STATUS). They connect to one ZeroMQ ROUTER socket
 *	secured with CURVE; only registered, active keys of professionals
 *	with a tiers-payant agreement get in (tpgate_zap.c).
 *
 *	One thread serves the socket without ever waiting on a slow
 *	neighbour: ELIGIBILITY is answered from Redis (PostgreSQL on a
 *	miss); a QUOTE is handed to the reimbursement workers and an INVOICE
 *	to intake over ZeroMQ, and their replies are relayed when they come
 *	(tpgate_front.c, tpgate_backend.c). Each request first passes the admission check
 *	in Redis: rate limit, session, replay (tpgate_admit.c).
 *
 *	The daemon also consumes contracts.changed (group CLAIMS_TP_GROUP)
 *	to drop the cached rights of a member whose contract changed.
 *
 *	The protocol is in docs/tiers-payant.md.
 *
 * DIAGNOSTICS
 *	JSON log lines on stderr; metrics and /health on CLAIMS_METRICS_ADDR.
 *	Every refused request is answered with an ErrorReply and counted in
 *	tpgate_errors_total{code}.
 */
#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/daemon.h"
#include "common/envelope.h"
#include "common/kafka.h"
#include "common/log.h"
#include "common/tpkeys.h"
#include "common/metrics.h"
#include "common/worker.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "proto/member.pb-c.h"
#include "rules/rules.h"
#include "tpgate/tpgate.h"

static struct {
	char *pg_dsn, *redis_url, *brokers, *metrics_addr, *endpoint, *secret_key;
	char *quote_endpoint, *intake_endpoint, *group, *timezone;
	long session_ttl, replay_window, rate_limit, rights_ttl, quote_days;
	long backend_timeout_ms, max_in_flight, max_in_flight_per_pro, max_request_bytes;
	long redis_timeout_ms;
} cfg;

/* clang-format off */
static const struct config_entry config_table[] = {
	CONFIG_PG_DSN(&cfg.pg_dsn),
	CONFIG_REDIS_URL(&cfg.redis_url),
	{"CLAIMS_REDIS_TIMEOUT_MS", CONFIG_INT, &cfg.redis_timeout_ms, "250", 10, 10000,
	 "longest wait for Redis to connect or answer; past it the request is UNAVAILABLE and Redis is not tried again for a second"},
	CONFIG_KAFKA_BROKERS(&cfg.brokers),
	CONFIG_METRICS_ADDR(&cfg.metrics_addr, "127.0.0.1:9103"),
	{"CLAIMS_TP_ENDPOINT", CONFIG_STRING, &cfg.endpoint, "tcp://127.0.0.1:5702", 0, 0,
	 "ZeroMQ endpoint professionals connect to (CURVE)"},
	{"CLAIMS_TP_SERVER_SECRET", CONFIG_STRING, &cfg.secret_key, "", 0, 0,
	 "the front door's CURVE secret key, 40 Z85 characters (required;"
	 " `claimctl tp keygen` makes a pair)"},
	{"CLAIMS_TP_QUOTE_ENDPOINT", CONFIG_STRING, &cfg.quote_endpoint, "tcp://127.0.0.1:5703",
	 0, 0, "endpoint bound for the reimbursement workers that compute quotes"},
	{"CLAIMS_TP_INTAKE_ENDPOINT", CONFIG_STRING, &cfg.intake_endpoint,
	 "tcp://127.0.0.1:5701", 0, 0, "intake's submission socket, where invoices go"},
	{"CLAIMS_TP_GROUP", CONFIG_STRING, &cfg.group, "tpgate", 0, 0,
	 "Kafka consumer group of contracts.changed (cache invalidation)"},
	{"CLAIMS_TP_SESSION_TTL", CONFIG_INT, &cfg.session_ttl, "900", 1, 86400,
	 "seconds a session lives without being used"},
	{"CLAIMS_TP_REPLAY_WINDOW", CONFIG_INT, &cfg.replay_window, "300", 1, 3600,
	 "allowed skew of a request's created_at_us, either way; its id is"
	 " remembered twice as long, and a minute"},
	{"CLAIMS_TP_RATE_LIMIT", CONFIG_INT, &cfg.rate_limit, "200", 1, 1000000,
	 "requests per second per professional"},
	{"CLAIMS_TP_RIGHTS_TTL", CONFIG_INT, &cfg.rights_ttl, "600", 1, 86400,
	 "seconds a member's rights stay cached in Redis"},
	{"CLAIMS_TP_QUOTE_DAYS", CONFIG_INT, &cfg.quote_days, "30", 1, 365,
	 "days a quote stays valid"},
	{"CLAIMS_TP_TIMEZONE", CONFIG_STRING, &cfg.timezone, "CET-1CEST,M3.5.0,M10.5.0/3", 0, 0,
	 "where \"today\" is, for a request without a care date and a quote's validity:"
	 " metropolitan France's as a POSIX TZ rule (no tz database needed); or a zone"
	 " name such as Europe/Paris or Indian/Reunion, where the tz database is installed"},
	{"CLAIMS_TP_BACKEND_TIMEOUT_MS", CONFIG_INT, &cfg.backend_timeout_ms, "2000", 10, 60000,
	 "how long a quote or invoice may wait for its worker before TIMEOUT"},
	{"CLAIMS_TP_MAX_IN_FLIGHT", CONFIG_INT, &cfg.max_in_flight, "1024", 1, 65536,
	 "quotes and invoices waiting for a worker at once; beyond: BUSY"},
	{"CLAIMS_TP_MAX_IN_FLIGHT_PER_PRO", CONFIG_INT, &cfg.max_in_flight_per_pro, "32", 1, 65536,
	 "of those, the most one professional may have at once; beyond: BUSY"},
	{"CLAIMS_TP_MAX_REQUEST_BYTES", CONFIG_INT, &cfg.max_request_bytes, "65536", 1024,
	 1048576, "largest request accepted; a larger one drops the connection"},
	{NULL, 0, NULL, NULL, 0, 0, NULL},
};
/* clang-format on */

static struct tpgate state;

/* ---- contracts.changed: drop cached rights --------------------------------------------------- */

/* OK when the member's cached rights are dropped, or when the message
 * names nobody (ignored); ERR when PostgreSQL or Redis could not say or
 * do it: the message is tried again, its offset held. */
static int forget_member(struct tpgate *g, const rd_kafka_message_t *m)
{
	Claims__ContractChanged *c = NULL;
	struct envelope env;
	char why[160];
	int status = OK;

	if (envelope_unpack(m->payload, m->len, &env, why, sizeof(why)) == OK &&
	    env.type == CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED)
		c = claims__contract_changed__unpack(NULL, env.payload_len, env.payload);
	/* An empty number is none: looked up by the contract, not dropped
	 * as the key of nobody ("tp:rights:"). */
	if (c != NULL && c->membership_number != NULL && c->membership_number[0] == '\0') {
		free(c->membership_number);
		c->membership_number = NULL;
	}
	if (c != NULL && c->membership_number == NULL && c->has_contract_id) {
		char id[24];
		const char *v[1] = {id};
		PGresult *res;

		/* Events from systems that only name the contract. */
		snprintf(id, sizeof(id), "%lld", (long long)c->contract_id);
		if (pg_exec_prepared(g->db, "tp_contract_member", 1, v, NULL, NULL, &res) != OK) {
			if (g->changes_held_us == 0)
				log_warn("contracts.changed: contract %s cannot be looked up now;"
					 " held, and tried again",
					 id);
			status = ERR;
			goto out;
		}
		if (PQntuples(res) == 1)
			c->membership_number = xstrdup(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	if (c == NULL || c->membership_number == NULL) {
		log_warn("contracts.changed: message at offset %lld without a membership number"
			 " ignored (the cache expires on its own)",
			 (long long)m->offset);
	} else if (tp_rights_drop(g->redis, c->membership_number) != OK) {
		if (g->changes_held_us == 0) /* once per hold, not at each try */
			log_warn("contracts.changed: cached rights of %s cannot be dropped now;"
				 " held, and tried again",
				 c->membership_number);
		status = ERR;
	} else {
		metric_add(metric_counter("tpgate_rights_invalidated_total",
					  "Cached rights dropped after a contract change"),
			   1);
	}
out:
	claims__contract_changed__free_unpacked(c, NULL);
	envelope_free(&env);
	return status;
}

/* A consumer that could not be sent back is made again: it starts from
 * the group's committed offsets, which never pass a change not applied. */
static int reopen_changes(struct tpgate *g)
{
	const char *topics[] = {"contracts.changed"};

	log_warn("contracts.changed: the consumer could not go back; opening it again");
	kafka_consumer_close(g->changes);
	g->changes = NULL;
	return kafka_consumer_open(cfg.brokers, cfg.group, topics, 1, &g->changes);
}

/* The changes polled are applied in order, every 200 ms. One that fails
 * (Redis or PostgreSQL away) stops there: the offsets of those applied
 * are stored, and the consumer goes back to it, so that it and the ones
 * after it are read again at the next turn, 200 ms later and twice as
 * late each time up to 5 s; no offset moves past it, and a terminated
 * contract's rights are never left cached for their TTL. The consumer
 * keeps being polled meanwhile: it stays in its group. */
static int contract_changes(struct tpgate *g)
{
	rd_kafka_message_t *batch[100];
	int n = 0, done = 0, status = OK;

	if (g->changes == NULL && reopen_changes(g) != OK)
		return ERR;
	if (clock_mono_us() - g->changes_at_us < g->changes_wait_ms * 1000)
		return OK;
	g->changes_at_us = clock_mono_us();
	if (kafka_consumer_poll_batch(g->changes, batch, 100, 0, &n) != OK)
		return ERR;
	while (done < n && forget_member(g, batch[done]) == OK)
		done++;
	/* Stored before going back (as librdkafka asks): those applied. */
	if (kafka_consumer_store(g->changes, batch, done) != OK)
		status = ERR;
	if (done < n) {
		if (g->changes_held_us == 0)
			g->changes_held_us = clock_mono_us();
		g->changes_wait_ms = g->changes_wait_ms * 2 > 5000 ? 5000 : g->changes_wait_ms * 2;
		if (kafka_consumer_rewind(g->changes, batch + done, n - done) != OK) {
			kafka_batch_destroy(batch, n);
			if (reopen_changes(g) != OK)
				log_error("contracts.changed: no consumer; opened again at the"
					  " next step");
			return ERR;
		}
	} else if (n > 0 && g->changes_held_us != 0) {
		log_info("contracts.changed: held changes applied after %.1f s",
			 (double)(clock_mono_us() - g->changes_held_us) / 1e6);
		g->changes_held_us = 0;
		g->changes_wait_ms = 200;
	}
	kafka_batch_destroy(batch, n);
	return status;
}

/* Once a second: the PostgreSQL connection checked (made again once it
 * can be), and a ROLE (or PING) to Redis. Without traffic nothing else would
 * notice either going away or coming back, and /health would say what
 * was true at the last request. Failures are logged and show in
 * /health; the loop goes on (requests get UNAVAILABLE meanwhile). The
 * probe never waits out a connection attempt to a server that does not
 * answer (pg_probe), while the rights cached in Redis could be served. A
 * statement that finds its session cut still connects again on the spot
 * (a restarted server: the request is served), which costs one attempt
 * (2 s, pg_open_serving) when the server is silent; after it fails there
 * is no session, and the statements fail at once until the probe has
 * made one again. The next look is timed from the end of this one. */
static void probe_dependencies(struct tpgate *g)
{
	if (clock_mono_us() - g->probe_us < 1000000)
		return;
	atomic_store(&g->db_up, pg_probe(g->db) == OK);
	if (redis_ping(g->redis) != OK)
		log_warn("Redis unreachable or read-only: sessions, limits and cached rights"
			 " unavailable");
	g->probe_us = clock_mono_us();
}

/* ---- the daemon ---------------------------------------------------------------------------- */

/* An invoice's claim, then the claims completing it (claim_complements,
 * in order), or its rejection: one row each, in that order. */
static const char sql_invoice_status[] =
	"WITH RECURSIVE chain (claim_id, depth) AS ("
	" SELECT claim_id, 0 FROM claims WHERE source = $1 AND external_id = $2"
	" UNION ALL"
	" SELECT k.complement_id, chain.depth + 1 FROM claim_complements k"
	"  JOIN chain ON k.claim_id = chain.claim_id WHERE chain.depth < " TP_XSTR(
		TP_STATUS_MAX_CHAIN) ")"
				     " SELECT c.claim_id::text, c.status, '', p.status,"
				     " (SELECT coalesce(sum(d.amc_cents), 0) FROM decisions d"
				     "  WHERE d.claim_id = c.claim_id), coalesce(c.outcome_reason, "
				     "''), chain.depth"
				     " FROM chain JOIN claims c ON c.claim_id = chain.claim_id"
				     " LEFT JOIN payments p ON p.claim_id = c.claim_id"
				     " UNION ALL"
				     " SELECT NULL, 'rejected', r.reason_code, NULL, NULL, "
				     "coalesce(r.message, ''), 0"
				     " FROM claim_rejections r WHERE r.source = $1 AND "
				     "r.external_id = $2"
				     " AND NOT EXISTS (SELECT 1 FROM claims WHERE source = $1 AND "
				     "external_id = $2)"
				     " ORDER BY 7";

/* The front door's own statements; tp_rights and the ZAP handler have
 * theirs. */
static int tpgate_prepare(struct pg *db)
{
	if (pg_prepare(db, "tp_professional_active",
		       "SELECT key_status = 'active' AND tp_agreement AND curve_public_key = $2"
		       " FROM professionals WHERE professional_id = $1",
		       2) != OK ||
	    pg_prepare(db, "tp_invoice_status", sql_invoice_status, 2) != OK ||
	    pg_prepare(db, "tp_contract_member",
		       "SELECT m.membership_number FROM contracts c"
		       " JOIN members m ON m.member_id = c.member_id WHERE c.contract_id = $1",
		       1) != OK)
		return ERR;
	return OK;
}

/* --plans: the front door's session (its statements and the rights
 * store's) and the ZAP handler's. */
static int prepare_all(struct pg *db)
{
	if (tpgate_prepare(db) != OK || tp_rights_prepare(db) != OK || tp_zap_prepare(db) != OK)
		return ERR;
	return OK;
}

static int tpgate_init(void *ctx)
{
	struct tpgate *g = ctx;
	const char *topics[] = {"contracts.changed"};
	uint8_t secret[32];

	/* Missing, cut short or not Z85: said here, naming the variable,
	 * rather than by libzmq at the bind, after the database. */
	if (strlen(cfg.secret_key) != 40 || zmq_z85_decode(secret, cfg.secret_key) == NULL) {
		log_error("CLAIMS_TP_SERVER_SECRET must hold the 40-character Z85 secret key of the"
			  " front door (claimctl tp keygen)");
		return ERR;
	}
	sodium_memzero(secret, sizeof(secret));
	/* A pharmacy in Paris at 00:30 asks about today, not about the UTC
	 * day before: a contract starting today is open. */
	if (date_set_local_zone(cfg.timezone) != OK)
		return ERR;
	if (sodium_init() < 0 || !zmq_has("curve")) {
		log_error("libsodium or libzmq's CURVE support is missing");
		return ERR;
	}
	g->changes_wait_ms = 200;
	g->limits.session_ttl_s = cfg.session_ttl;
	g->limits.replay_window_s = cfg.replay_window;
	g->limits.rate_limit = cfg.rate_limit;
	g->backend_timeout_ms = cfg.backend_timeout_ms;
	g->max_in_flight_per_pro = (int)cfg.max_in_flight_per_pro;
	g->quote_days = cfg.quote_days;
	g->batch = xcalloc(TP_BATCH, sizeof(*g->batch));
	tp_front_metrics();
	g->ctx = zmq_ctx_new();
	if (g->ctx == NULL || pg_open_serving(cfg.pg_dsn, &g->db) != OK ||
	    pg_set(g->db, "statement_timeout", TP_STATEMENT_TIMEOUT) != OK ||
	    tpgate_prepare(g->db) != OK ||
	    redis_open(cfg.redis_url, (int)cfg.redis_timeout_ms, &g->redis) != OK ||
	    tp_rights_open(g->db, g->redis, cfg.rights_ttl, &g->rights) != OK ||
	    tp_catalog_refresh(g->rights, 60) != OK ||
	    tp_backends_open(g->ctx, cfg.quote_endpoint, cfg.intake_endpoint,
			     (int)cfg.max_in_flight, &g->backends) != OK ||
	    kafka_consumer_open(cfg.brokers, cfg.group, topics, 1, &g->changes) != OK)
		return ERR;
	redis_set_probe_key(g->redis, TP_KEY_HEALTH);
	pg_pause_after_timeout(g->db, TP_DB_PAUSE_MS);
	atomic_store(&g->db_up, 1);
	/* The ZAP handler must listen before the first handshake. */
	if (tp_zap_start(g->ctx, cfg.pg_dsn, &g->zap) != OK ||
	    zsock_bind_curve_router(g->ctx, cfg.endpoint, cfg.secret_key, TP_ZAP_DOMAIN,
				    cfg.max_request_bytes, &g->front) != OK)
		return ERR;
	log_info("tiers-payant front door on %s", cfg.endpoint);
	return OK;
}

static int tpgate_step(void *ctx)
{
	struct tpgate *g = ctx;
	zmq_pollitem_t items[3] = {
		{g->front, 0, ZMQ_POLLIN, 0},
		{tp_backends_quote_socket(g->backends), 0, ZMQ_POLLIN, 0},
		{tp_backends_intake_socket(g->backends), 0, ZMQ_POLLIN, 0},
	};
	int rc = zmq_poll(items, 3, tp_backends_in_flight(g->backends) > 0 ? 5 : 100);

	if (rc < 0 && zmq_errno() != EINTR) {
		log_error("zmq_poll: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	/* Replies first: they free slots for the new requests. */
	tp_backend_replies(g, items[1].socket);
	tp_backend_replies(g, items[2].socket);
	for (int round = 0; round < 4 && tp_serve_batch(g) == TP_BATCH; round++)
		;
	tp_expire(g);
	probe_dependencies(g);
	if (tp_catalog_refresh(g->rights, 60) != OK)
		log_warn("formula catalogue not reloaded; the previous one is kept");
	return contract_changes(g);
}

/* SIGTERM: no new request is read; those in flight get their answer
 * (or their TIMEOUT) before the daemon exits. */
static int tpgate_drain(void *ctx)
{
	struct tpgate *g = ctx;

	while (tp_backends_in_flight(g->backends) > 0) {
		zmq_pollitem_t items[2] = {
			{tp_backends_quote_socket(g->backends), 0, ZMQ_POLLIN, 0},
			{tp_backends_intake_socket(g->backends), 0, ZMQ_POLLIN, 0},
		};

		if (zmq_poll(items, 2, 10) < 0 && zmq_errno() != EINTR)
			break;
		tp_backend_replies(g, items[0].socket);
		tp_backend_replies(g, items[1].socket);
		tp_expire(g);
	}
	return g->changes != NULL ? kafka_consumer_commit(g->changes, 1) : OK;
}

static void tpgate_cleanup(void *ctx)
{
	struct tpgate *g = ctx;

	if (g->front != NULL && zmq_close(g->front) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	tp_zap_stop(g->zap);
	tp_backends_close(g->backends);
	kafka_consumer_close(g->changes);
	tp_rights_close(g->rights);
	redis_close(g->redis);
	pg_close(g->db);
	free(g->batch);
	if (g->ctx != NULL && zmq_ctx_term(g->ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
}

static const char *tpgate_health(void *ctx)
{
	struct tpgate *g = ctx;

	if (!atomic_load(&g->db_up))
		return "database connection down";
	if (!tp_zap_db_up(g->zap))
		return "database connection of the key checks (ZAP) down: new clients are refused";
	if (!redis_up(g->redis))
		return "Redis unreachable, or a replica (read-only): every request is answered"
		       " UNAVAILABLE";
	return NULL;
}

static const struct daemon_spec spec = {
	.name = "tpgate",
	.summary = "The tiers-payant front door: health professionals ask over ZeroMQ (CURVE)\n"
		   "whether a patient's rights are open, how much the mutuelle will pay,\n"
		   "send their invoices and follow them. See docs/tiers-payant.md.",
	.config = config_table,
	.metrics_addr = &cfg.metrics_addr,
	.init = tpgate_init,
	.step = tpgate_step,
	.drain = tpgate_drain,
	.cleanup = tpgate_cleanup,
	.health = tpgate_health,
	.ctx = &state,
	.pg_dsn = &cfg.pg_dsn,
	.prepare_all = prepare_all,
};

int main(int argc, char **argv)
{
	return daemon_main(argc, argv, &spec);
}
