/*
 * NAME
 *	tpgate_zap.c - who may connect: the ZAP handler of the front door
 *
 * DESCRIPTION
 *	libzmq asks the ZAP handler (RFC 27, a REP socket bound to
 *	inproc://zeromq.zap.01 in the same context) about every CURVE
 *	handshake, with the client's 32-byte public key. The key is let in
 *	only if PostgreSQL registers it, with key_status 'active', for a
 *	professional holding a tiers-payant agreement; the answer's User-Id
 *	("ref/kind/value/key") then labels every message of the connection, so
 *	the loop knows who is asking without trusting anything the client
 *	writes. Anything else gets status 400 and the connection is closed
 *	before a single request is read.
 *
 *	The handler runs in its own thread with its own database
 *	connection: a handshake never waits behind a request, and the main
 *	loop never waits behind a handshake. A database failure answers 500
 *	(the client retries its handshake later).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "tpgate/tpgate.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_FRAMES   8

/* Keys refused (400) are remembered for a while, in a small table
 * indexed by the key's first bytes (keys are random): a client retrying
 * a refused handshake in a loop costs a table look instead of a query
 * and a log line each. A key registered just after being refused waits
 * that long. (Made-up keys, each new, still cost a query each; their log
 * lines are limited to one a second.) */
#define REFUSED_SLOTS  1024
#define REFUSED_TTL_US (10 * 1000000LL)

struct refused_key {
	uint8_t key[32];
	int64_t until_us;
	const char *text;
};

struct tp_zap {
	void *sock;
	struct pg *db;
	pthread_t thread;
	int started;
	atomic_int stop;
	atomic_int db_up; /* for /health, read by the metrics thread */
	struct refused_key refused[REFUSED_SLOTS];
	int64_t logged_us; /* the last refusal logged */
	long unlogged;	   /* refusals since, not logged */
};

struct zap_answer {
	const char *code, *text;
	char user_id[128];
	int remembered; /* a refusal from the table: counted, not logged again */
};

static struct refused_key *refused_slot(struct tp_zap *z, const uint8_t key[32])
{
	return &z->refused[(key[0] | (unsigned)key[1] << 8) % REFUSED_SLOTS];
}

static void count(const char *result)
{
	char name[80];

	snprintf(name, sizeof(name), "tpgate_handshakes_total{result=\"%s\"}", result);
	metric_add(metric_counter(name, "CURVE handshakes put to the ZAP handler, by answer"), 1);
}

/* The professional owning the key, as the answer to give. */
static void lookup_key(struct tp_zap *z, const uint8_t key[32], struct zap_answer *a)
{
	char z85[41];
	const char *v[1] = {z85};
	PGresult *res;

	struct refused_key *slot = refused_slot(z, key);

	a->code = "500";
	a->text = "internal error";
	a->user_id[0] = '\0';
	if (memcmp(slot->key, key, 32) == 0 && slot->until_us > clock_mono_us()) {
		a->code = "400";
		a->text = slot->text;
		a->remembered = 1;
		return;
	}
	if (zmq_z85_encode(z85, key, 32) == NULL)
		return;
	/* A session cut since the last look is made again by pg.c, which
	 * runs the query once more. Still failing: the client is refused
	 * with 500 and tries again. */
	if (pg_exec_prepared(z->db, "zap_key", 1, v, NULL, NULL, &res) != OK) {
		atomic_store(&z->db_up, 0);
		return;
	}
	atomic_store(&z->db_up, 1);
	if (PQntuples(res) == 0) {
		a->code = "400";
		a->text = "unknown key";
	} else if (strcmp(PQgetvalue(res, 0, 3), "active") != 0) {
		a->code = "400";
		a->text = "key revoked";
	} else if (PQgetvalue(res, 0, 4)[0] != 't') {
		a->code = "400";
		a->text = "no tiers-payant agreement";
	} else {
		a->code = "200";
		a->text = "OK";
		snprintf(a->user_id, sizeof(a->user_id), "%s/%s/%s/%s", PQgetvalue(res, 0, 0),
			 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), z85);
	}
	PQclear(res);
	if (a->code[0] == '4') {
		memcpy(slot->key, key, 32);
		slot->text = a->text;
		slot->until_us = clock_mono_us() + REFUSED_TTL_US;
	}
}

static int frame_is(zmq_msg_t *m, const char *text)
{
	size_t n = strlen(text);

	return zmq_msg_size(m) == n && memcmp(zmq_msg_data(m), text, n) == 0;
}

static void send_answer(struct tp_zap *z, zmq_msg_t *request_id, const struct zap_answer *a)
{
	if (zmq_send(z->sock, "1.0", 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(z->sock, zmq_msg_data(request_id), zmq_msg_size(request_id), ZMQ_SNDMORE) <
		    0 ||
	    zmq_send(z->sock, a->code, 3, ZMQ_SNDMORE) < 0 ||
	    zmq_send(z->sock, a->text, strlen(a->text), ZMQ_SNDMORE) < 0 ||
	    zmq_send(z->sock, a->user_id, strlen(a->user_id), ZMQ_SNDMORE) < 0 ||
	    zmq_send(z->sock, "", 0, 0) < 0)
		log_error("ZAP reply: %s", zmq_strerror(zmq_errno()));
}

/* One ZAP request: version, request id, domain, address, routing id,
 * mechanism, then the credentials (the client key for CURVE). */
static void serve_one(struct tp_zap *z)
{
	zmq_msg_t f[ZAP_FRAMES];
	struct zap_answer a = {"400", "bad ZAP request", "", 0};
	int n = 0, more = 1;

	while (more) {
		zmq_msg_t extra, *dst = n < ZAP_FRAMES ? &f[n] : &extra;

		zmq_msg_init(dst);
		if (zmq_msg_recv(dst, z->sock, 0) < 0) {
			log_error("ZAP receive: %s", zmq_strerror(zmq_errno()));
			zmq_msg_close(dst);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&f[i]);
			return;
		}
		more = zmq_msg_more(dst);
		if (dst == &extra)
			zmq_msg_close(&extra);
		else
			n++;
	}
	if (n >= 7 && frame_is(&f[0], "1.0") && frame_is(&f[5], "CURVE") &&
	    zmq_msg_size(&f[6]) == 32)
		lookup_key(z, zmq_msg_data(&f[6]), &a);
	if (n >= 2)
		send_answer(z, &f[1], &a);
	count(a.code[0] == '2' ? "accepted" : a.code[0] == '4' ? "refused" : "error");
	if (a.code[0] != '2' && !a.remembered) {
		/* At most one line a second: a flood of made-up keys misses
		 * the table every time, and must not flood the log too. */
		if (clock_mono_us() - z->logged_us >= 1000000) {
			log_warn("tiers-payant connection refused: %s (peer %.*s; %ld more refusals"
				 " not logged since the last line)",
				 a.text, n >= 4 ? (int)zmq_msg_size(&f[3]) : 1,
				 n >= 4 ? (const char *)zmq_msg_data(&f[3]) : "?", z->unlogged);
			z->logged_us = clock_mono_us();
			z->unlogged = 0;
		} else {
			z->unlogged++;
		}
	}
	for (int i = 0; i < n; i++)
		zmq_msg_close(&f[i]);
}

static void *zap_loop(void *arg)
{
	struct tp_zap *z = arg;
	int64_t pinged_us = clock_mono_us();

	while (!atomic_load(&z->stop)) {
		zmq_pollitem_t item = {z->sock, 0, ZMQ_POLLIN, 0};
		int rc = zmq_poll(&item, 1, 200);

		if (rc < 0) {
			if (zmq_errno() == ETERM)
				break;
			continue;
		}
		if (rc > 0)
			serve_one(z);
		/* Handshakes are rare: between them, a look every second keeps
		 * /health true and the session ready for the next client,
		 * without waiting out connection attempts to a silent server
		 * (pg_probe), which would hold the handshakes behind them. */
		if (clock_mono_us() - pinged_us > 1000000) {
			atomic_store(&z->db_up, pg_probe(z->db) == OK);
			pinged_us = clock_mono_us();
		}
	}
	if (zmq_close(z->sock) != 0)
		log_warn("ZAP socket close: %s", zmq_strerror(zmq_errno()));
	z->sock = NULL;
	return NULL;
}

int tp_zap_db_up(struct tp_zap *z)
{
	return z != NULL && atomic_load(&z->db_up);
}

int tp_zap_prepare(struct pg *db)
{
	return pg_prepare(db, "zap_key",
			  "SELECT professional_id, id_kind, id_value, key_status, tp_agreement"
			  " FROM professionals WHERE curve_public_key = $1",
			  1);
}

int tp_zap_start(void *zmq_ctx, const char *dsn, struct tp_zap **out)
{
	struct tp_zap *z = xcalloc(1, sizeof(*z));
	int zero = 0;

	if (pg_open_serving(dsn, &z->db) != OK || tp_zap_prepare(z->db) != OK ||
	    pg_set(z->db, "statement_timeout", TP_STATEMENT_TIMEOUT) != OK)
		goto fail;
	atomic_store(&z->db_up, 1);
	z->sock = zmq_socket(zmq_ctx, ZMQ_REP);
	if (z->sock == NULL || zmq_setsockopt(z->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_bind(z->sock, ZAP_ENDPOINT) != 0) {
		log_error("ZAP handler %s: %s", ZAP_ENDPOINT, zmq_strerror(zmq_errno()));
		goto fail;
	}
	if (thread_start(&z->thread, zap_loop, z, "ZAP handler") != OK)
		goto fail;
	z->started = 1;
	*out = z;
	return OK;
fail:
	tp_zap_stop(z);
	return ERR;
}

void tp_zap_stop(struct tp_zap *z)
{
	if (z == NULL)
		return;
	atomic_store(&z->stop, 1);
	if (z->started && pthread_join(z->thread, NULL) != 0)
		log_warn("ZAP handler thread: join failed");
	if (z->sock != NULL && zmq_close(z->sock) != 0)
		log_warn("ZAP socket close: %s", zmq_strerror(zmq_errno()));
	pg_close(z->db);
	free(z);
}
