/*
 * NAME
 *	reimburse_quote.c - quotes for the tiers-payant front door
 *
 * DESCRIPTION
 *	A professional's QUOTE is computed by the reimbursement workers, with
 *	the same engine, formulas and counters as a claim, so that the
 *	invoice that follows gets the amounts the quote showed. Each worker
 *	runs one quote thread: a REP socket connected to every front door
 *	of CLAIMS_QUOTE_CONNECT (the front door's DEALER spreads requests
 *	over the connected workers), its own PostgreSQL connection and its
 *	own copy of the formulas, so a quote never waits behind a batch of
 *	claims and shares nothing mutable with the main loop.
 *
 *	Request: [tag][Envelope(QUOTE_COMPUTE)]; reply: [tag][Envelope(
 *	QUOTE_COMPUTED)] with a ReimbursementComputed whose claim_id is the
 *	quote id, or [tag][Envelope(ERROR_REPLY)]. The tag is the front
 *	door's and comes back untouched.
 *
 *	The quote is stored in `quotes` (for the invoice to cite) on a
 *	connection with synchronous_commit off: no money depends on a quote,
 *	and waiting for the WAL flush would double its latency. Counters are
 *	read, never written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "proto/tierspayant.pb-c.h"
#include "proto/tpinternal.pb-c.h"
#include "reimburse/reimburse.h"

struct quote_server {
	void *zctx, *sock;
	struct pg *db;
	struct reimburse_ctx rctx;
	long reload_seconds;
	pthread_t thread;
	int started;
	atomic_int stop;
	struct metric *served, *failed, *latency;
};

/* clang-format off */
static const char sql_store[] =
	"INSERT INTO quotes (quote_id, professional_id, beneficiary_id, contract_id, request,"
	" result, total_charged_cents, total_amc_cents, total_rac_cents, valid_until)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/* clang-format on */

static int store(struct quote_server *q, const Claims__QuoteCompute *c, const void *request,
		 size_t request_len, const uint8_t *result, size_t result_len,
		 const struct reimburse_totals *t)
{
	char ref[24], ben[24], con[24], charged[24], amc[24], rac[24];
	const char *v[10] = {c->claim->claim_id,   ref,	    ben, con, request,
			     (const char *)result, charged, amc, rac, c->valid_until};
	int lengths[10] = {0, 0, 0, 0, (int)request_len, (int)result_len, 0, 0, 0, 0};
	int formats[10] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0};

	snprintf(ref, sizeof(ref), "%lld", (long long)c->professional_ref);
	snprintf(ben, sizeof(ben), "%lld", (long long)c->claim->beneficiary_id);
	snprintf(con, sizeof(con), "%lld", (long long)c->claim->contract_id);
	snprintf(charged, sizeof(charged), "%lld", (long long)t->charged);
	snprintf(amc, sizeof(amc), "%lld", (long long)t->amc);
	snprintf(rac, sizeof(rac), "%lld", (long long)t->rac);
	return pg_exec_prepared(q->db, "quote_store", 10, v, lengths, formats, NULL);
}

static void pack_error(const char *code, const char *message, const char *trace_id, uint8_t **out,
		       size_t *len)
{
	Claims__ErrorReply e = CLAIMS__ERROR_REPLY__INIT;
	char id[UUID_STR_LEN];

	e.code = (char *)code;
	e.message = (char *)message;
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__ERROR_REPLY, &e.base, trace_id, "reimburse", id,
			  out, len) != OK) {
		*out = NULL;
		*len = 0;
	}
}

static int well_formed(const Claims__QuoteCompute *c)
{
	int32_t day;

	return c->claim != NULL && c->claim->claim_id != NULL && uuid_valid(c->claim->claim_id) &&
	       c->claim->birth_date != NULL && date_parse(c->claim->birth_date, &day) == OK &&
	       c->claim->n_lines > 0 && c->formula_code != NULL && c->has_professional_ref &&
	       c->valid_until != NULL && date_parse(c->valid_until, &day) == OK;
}

/* The reply to one request envelope. */
static void compute(struct quote_server *q, const void *body, size_t len, uint8_t **out,
		    size_t *out_len)
{
	Claims__QuoteCompute *c = NULL;
	struct reimburse_totals totals;
	struct envelope env;
	char why[160];

	*out = NULL;
	if (envelope_unpack(body, len, &env, why, sizeof(why)) != OK) {
		pack_error("BAD_REQUEST", why, NULL, out, out_len);
		return;
	}
	if (env.type == CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE)
		c = claims__quote_compute__unpack(NULL, env.payload_len, env.payload);
	if (c == NULL || !well_formed(c)) {
		pack_error("BAD_REQUEST", "not a complete QuoteCompute", env.trace_id, out,
			   out_len);
	} else if (pg_check(q->db) != OK ||
		   reimburse_quote(&q->rctx, q->db, c->claim, c->formula_code, env.trace_id, out,
				   out_len, &totals) != OK ||
		   store(q, c, body, len, *out, *out_len, &totals) != OK) {
		free(*out);
		*out = NULL;
		metric_add(q->failed, 1);
		pack_error("UNAVAILABLE", "the quote could not be computed now; retry later",
			   env.trace_id, out, out_len);
	}
	claims__quote_compute__free_unpacked(c, NULL);
	envelope_free(&env);
}

/* [tag][envelope] in, [tag][reply] out. */
static void serve_one(struct quote_server *q)
{
	zmq_msg_t part[2];
	int n = 0, more = 1;
	int64_t start = clock_mono_us();
	uint8_t *reply = NULL;
	size_t reply_len = 0;

	while (more) {
		zmq_msg_t extra, *dst = n < 2 ? &part[n] : &extra;

		zmq_msg_init(dst);
		if (zmq_msg_recv(dst, q->sock, 0) < 0) {
			log_error("quote receive: %s", zmq_strerror(zmq_errno()));
			zmq_msg_close(dst);
			for (int i = 0; i < n; i++)
				zmq_msg_close(&part[i]);
			return;
		}
		more = zmq_msg_more(dst);
		if (dst == &extra)
			zmq_msg_close(&extra);
		else
			n++;
	}
	if (n == 2)
		compute(q, zmq_msg_data(&part[1]), zmq_msg_size(&part[1]), &reply, &reply_len);
	else
		pack_error("BAD_REQUEST", "expected [tag][envelope]", NULL, &reply, &reply_len);
	/* REP must answer every request, or it stops receiving. */
	if (zmq_send(q->sock, zmq_msg_data(&part[0]), zmq_msg_size(&part[0]), ZMQ_SNDMORE) < 0 ||
	    zmq_send(q->sock, reply, reply_len, 0) < 0)
		log_error("quote reply: %s", zmq_strerror(zmq_errno()));
	free(reply);
	for (int i = 0; i < n; i++)
		zmq_msg_close(&part[i]);
	metric_add(q->served, 1);
	metric_observe_us(q->latency, clock_mono_us() - start);
}

static void *quote_loop(void *arg)
{
	struct quote_server *q = arg;

	while (!atomic_load(&q->stop)) {
		zmq_pollitem_t item = {q->sock, 0, ZMQ_POLLIN, 0};
		int rc = zmq_poll(&item, 1, 200);

		if (rc < 0 && zmq_errno() != EINTR) {
			log_error("quote poll: %s", zmq_strerror(zmq_errno()));
			break;
		}
		if (rc > 0)
			serve_one(q);
		if (clock_mono_us() - q->rctx.formulas.loaded_at_us > q->reload_seconds * 1000000 &&
		    formulas_load(q->db, &q->rctx.formulas) != OK)
			log_warn(
				"quote thread: formula reload failed; keeping the loaded versions");
	}
	return NULL;
}

static int connect_all(struct quote_server *q, const char *endpoints)
{
	char *list = xstrdup(endpoints), *save = NULL;
	int zero = 0, status = OK;

	q->sock = zmq_socket(q->zctx, ZMQ_REP);
	if (q->sock == NULL || zmq_setsockopt(q->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0)
		status = ERR;
	for (char *e = strtok_r(list, ", ", &save); e != NULL && status == OK;
	     e = strtok_r(NULL, ", ", &save)) {
		if (zmq_connect(q->sock, e) != 0) {
			log_error("quote server: connect %s: %s", e, zmq_strerror(zmq_errno()));
			status = ERR;
		} else {
			log_info("serving quotes to the front door at %s", e);
		}
	}
	free(list);
	return status;
}

int quote_server_start(const char *dsn, const char *endpoints, const struct rules_params *params,
		       long reload_seconds, struct quote_server **out)
{
	struct quote_server *q = xcalloc(1, sizeof(*q));

	q->rctx.params = params;
	q->reload_seconds = reload_seconds;
	q->served = metric_counter("reimburse_quotes_total", "Quotes computed for tiers payant");
	q->failed = metric_counter("reimburse_quote_failures_total",
				   "Quotes that could not be computed (database)");
	q->latency = metric_histogram("reimburse_quote_seconds", "Quote: request to reply");
	q->zctx = zmq_ctx_new();
	if (q->zctx == NULL || pg_open(dsn, &q->db) != OK ||
	    pg_exec(q->db, "SET synchronous_commit = off") != OK ||
	    reimburse_prepare(q->db) != OK ||
	    pg_prepare(q->db, "quote_store", sql_store, 10) != OK ||
	    formulas_load(q->db, &q->rctx.formulas) != OK || connect_all(q, endpoints) != OK)
		goto fail;
	if (pthread_create(&q->thread, NULL, quote_loop, q) != 0) {
		log_error("quote server thread: cannot start");
		goto fail;
	}
	q->started = 1;
	*out = q;
	return OK;
fail:
	quote_server_stop(q);
	return ERR;
}

void quote_server_stop(struct quote_server *q)
{
	if (q == NULL)
		return;
	atomic_store(&q->stop, 1);
	if (q->started && pthread_join(q->thread, NULL) != 0)
		log_warn("quote server thread: join failed");
	if (q->sock != NULL && zmq_close(q->sock) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	if (q->zctx != NULL && zmq_ctx_term(q->zctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
	formulas_free(&q->rctx.formulas);
	pg_close(q->db);
	free(q);
}
