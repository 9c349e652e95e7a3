/*
 * NAME
 *	reimburse_quote.c - quotes for the tiers-payant front door
 *
 * DESCRIPTION
 *	A professional's QUOTE is computed by the reimbursement workers, with
 *	the same engine, formulas and counters as a claim, so that the
 *	invoice that follows gets the amounts the quote showed. Each worker
 *	runs one quote thread, with its own PostgreSQL connection and its
 *	own copy of the formulas, so a quote never waits behind a batch of
 *	claims and shares nothing mutable with the main loop.
 *
 *	The socket is a ROUTER connected to every front door of
 *	CLAIMS_QUOTE_CONNECT (whose DEALERs spread requests over the
 *	connected workers): a ROUTER answers on the connection a request
 *	came from, so with several front doors each reply goes back to the
 *	one that asked (a DEALER would spread the replies round-robin over
 *	all of them). Heartbeats on both sides drop a silent peer after 3 s,
 *	and a worker whose database is away leaves the front doors until it
 *	answers again (follow_database), so that quotes are dealt only to
 *	workers that can compute them; its connection gives up on a server
 *	that does not answer within seconds (pg_open_serving). Requests are served in batches, like
 *	claims: the ones waiting are read together, their beneficiaries'
 *	counters read in one query, the quotes stored in one INSERT; a busy
 *	worker thus gets faster per quote instead of queueing.
 *
 *	Request: [empty][tag][Envelope(QUOTE_COMPUTE)]; reply: [empty][tag]
 *	[Envelope(QUOTE_REPLY)], the professional's answer itself (request
 *	id, quote id, validity, lines, totals), which the front door checks
 *	(its request id) and passes on, or [empty][tag][Envelope(ERROR_REPLY)].
 *	The tag is the front door's and comes back untouched; the ROUTER
 *	adds the connection's identity in front, and the reply goes to it. The stored
 *	`result` of a quote is that QuoteReply envelope.
 *
 *	The quote is stored in `quotes` (for the invoice to cite) after its
 *	reply, with the others answered meanwhile, in one INSERT: after
 *	QUOTE_IDLE_MS without a request, or QUOTE_FLUSH_US at the latest:
 *	no money depends on a quote, and a write in its path would double its
 *	latency. An invoice citing a quote in the few milliseconds before it
 *	is stored gets QUOTE_UNKNOWN, and can be sent again. Counters are
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
#include "common/pgarray.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "proto/tierspayant.pb-c.h"
#include "proto/tpinternal.pb-c.h"
#include "reimburse/reimburse.h"

struct quote_server {
	void *zctx, *sock;
	struct pg *db;
	struct reimburse_ctx rctx;
	long reload_seconds;
	int formulas_changed;	 /* a change notice not read yet */
	int64_t retry_reload_us; /* its last failed reload (monotonic) */
	pthread_t thread;
	int started;
	atomic_int stop;
	struct quote_rows *rows;
	struct metric *served, *failed, *latency, *stored, *lost, *serving;
	char *endpoints;       /* CLAIMS_QUOTE_CONNECT */
	int detached;	       /* left the front doors: the database is away */
	int64_t db_checked_us; /* last look at the database (0: look now) */
};

#define QUOTE_BATCH	      32
#define QUOTE_FLUSH_US	      20000 /* a quote is stored at most this long after its reply */
#define QUOTE_IDLE_MS	      2	    /* or after this long without a request */
#define QUOTE_ROWS_MAX	      10000
#define QUOTE_DB_CHECK_US     1000000 /* the database looked at, at least this often */
#define QUOTE_LEAVE_LINGER_MS 200

/* clang-format off */
static const char sql_store[] =
	"INSERT INTO quotes (quote_id, professional_id, beneficiary_id, contract_id, request,"
	" result, total_charged_cents, total_amc_cents, total_rac_cents, valid_until)"
	" SELECT q.id, q.pro, q.ben, q.con, decode(q.req, 'hex'), decode(q.res, 'hex'),"
	"  q.charged, q.amc, q.rac, q.until"
	" FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],"
	"  $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::date[])"
	"  AS q(id, pro, ben, con, req, res, charged, amc, rac, until)"
	" ON CONFLICT (quote_id) DO NOTHING";
/* clang-format on */

/* One request of a batch: its frames, what it asked, what it gets. */
struct quote_job {
	struct zframes frames; /* [empty][tag][envelope] */
	struct envelope env;
	Claims__QuoteCompute *compute; /* NULL: refused, error set */
	const char *error_code, *error;
	char *refused_request_id; /* a refused QuoteCompute's, for its error reply */
	struct reimburse_quote q;
};

enum { S_ID, S_PRO, S_BEN, S_CON, S_REQ, S_RES, S_CHARGED, S_AMC, S_RAC, S_UNTIL, S_COUNT };

/* Quotes answered and not yet stored. */
struct quote_rows {
	struct pgarray a[S_COUNT];
	int count;
	int64_t first_us; /* when the oldest was added */
};

static void rows_reset(struct quote_rows *r)
{
	for (int k = 0; k < S_COUNT; k++) {
		pgarray_free(&r->a[k]);
		pgarray_init(&r->a[k]);
	}
	r->count = 0;
	r->first_us = 0;
}

static void rows_add(struct quote_rows *r, const struct quote_job *j)
{
	const Claims__QuoteCompute *c = j->compute;

	if (r->count++ == 0)
		r->first_us = clock_mono_us();
	pgarray_text(&r->a[S_ID], c->claim->claim_id);
	pgarray_int(&r->a[S_PRO], c->professional_ref);
	pgarray_int(&r->a[S_BEN], c->claim->beneficiary_id);
	pgarray_int(&r->a[S_CON], c->claim->contract_id);
	size_t len;
	const void *body = zframes_body(&j->frames, &len);

	pgarray_hex(&r->a[S_REQ], body, len);
	pgarray_hex(&r->a[S_RES], j->q.reply, j->q.reply_len);
	pgarray_int(&r->a[S_CHARGED], j->q.totals.charged);
	pgarray_int(&r->a[S_AMC], j->q.totals.amc);
	pgarray_int(&r->a[S_RAC], j->q.totals.rac);
	pgarray_text(&r->a[S_UNTIL], c->valid_until);
}

/* Store the quotes answered so far, in one INSERT. Kept for the next
 * try when the database fails, up to a bound. */
static void rows_flush(struct quote_server *qs)
{
	struct quote_rows *r = qs->rows;
	const char *v[S_COUNT];

	if (r->count == 0)
		return;
	for (int k = 0; k < S_COUNT; k++)
		v[k] = pgarray_finish(&r->a[k]);
	if (pg_check(qs->db) == OK &&
	    pg_exec_prepared(qs->db, "quote_store", S_COUNT, v, NULL, NULL, NULL) == OK) {
		metric_add(qs->stored, r->count);
		rows_reset(r);
		return;
	}
	if (r->count >= QUOTE_ROWS_MAX) {
		log_error("%d quotes could not be stored and are dropped; invoices citing them"
			  " will be refused QUOTE_UNKNOWN",
			  r->count);
		metric_add(qs->lost, r->count);
		rows_reset(r);
	}
}

static void pack_error(const char *code, const char *message, const char *trace_id,
		       const char *request_id, uint8_t **out, size_t *len)
{
	Claims__ErrorReply e = CLAIMS__ERROR_REPLY__INIT;
	char id[UUID_STR_LEN];

	e.request_id = (char *)request_id;
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

/* Decode one job; a request that cannot be computed gets its error. */
static void decode(struct quote_job *j)
{
	char why[160];

	size_t len;
	const void *body = zframes_body(&j->frames, &len);

	if (envelope_unpack(body, len, &j->env, why, sizeof(why)) != OK) {
		j->error_code = "BAD_REQUEST";
		j->error = "not an envelope";
		return;
	}
	if (j->env.type == CLAIMS__MESSAGE_TYPE__QUOTE_COMPUTE)
		j->compute =
			claims__quote_compute__unpack(NULL, j->env.payload_len, j->env.payload);
	if (j->compute == NULL || !well_formed(j->compute)) {
		j->error_code = "BAD_REQUEST";
		j->error = "not a complete QuoteCompute";
		/* Kept, a refused request would be computed with the others of
		 * its batch, without a claim: only its request id stays. */
		if (j->compute != NULL && j->compute->request_id != NULL)
			j->refused_request_id = xstrdup(j->compute->request_id);
		claims__quote_compute__free_unpacked(j->compute, NULL);
		j->compute = NULL;
		return;
	}
	j->q.claim = j->compute->claim;
	j->q.formula_code = j->compute->formula_code;
	j->q.trace_id = j->env.trace_id;
	j->q.request_id = j->compute->request_id;
	j->q.valid_until = j->compute->valid_until;
}

/* [identity][empty][tag][envelope]: the front door's DEALER frames,
 * after the identity our ROUTER gives its connection. The frames are
 * the job's, received already. */
static void read_request(struct quote_job *j)
{
	if (j->frames.truncated || j->frames.count != 4 || zmq_msg_size(&j->frames.part[1]) != 0) {
		j->error_code = "BAD_REQUEST";
		j->error = "expected [empty][tag][envelope]";
		return;
	}
	decode(j);
}

/* 0: none waiting. */
static int receive(struct quote_server *qs, struct quote_job *j)
{
	memset(j, 0, sizeof(*j));
	if (zsock_recv(qs->sock, &j->frames) != OK)
		return 0;
	read_request(j);
	return 1;
}

/* The request id a reply echoes, NULL when the request had none. */
static const char *job_request_id(const struct quote_job *j)
{
	return j->compute != NULL ? j->compute->request_id : j->refused_request_id;
}

/* The jobs of the batch whose quote is computed, their quotes in q and
 * their places in jobs in idx; their count. A job with an error is
 * answered it, whatever else it holds. */
static int quotes_to_compute(const struct quote_job *jobs, int n, struct reimburse_quote *q,
			     int *idx)
{
	int k = 0;

	for (int i = 0; i < n; i++)
		if (jobs[i].error_code == NULL && jobs[i].compute != NULL) {
			q[k] = jobs[i].q;
			idx[k++] = i;
		}
	return k;
}

/* What the front door gets for a job: its QuoteReply, or an ErrorReply
 * packed into *error (for the caller to free). */
static const uint8_t *reply_body(const struct quote_job *j, uint8_t **error, size_t *len)
{
	*error = NULL;
	*len = j->q.reply_len;
	if (j->q.reply != NULL)
		return j->q.reply;
	pack_error(j->error_code ? j->error_code : "UNAVAILABLE",
		   j->error ? j->error : "the quote could not be computed now; retry later",
		   j->env.trace_id, job_request_id(j), error, len);
	return *error;
}

static void answer(struct quote_server *qs, struct quote_job *j)
{
	const uint8_t *reply;
	uint8_t *error;
	size_t len;

	if (j->frames.count != 4 || zmq_msg_size(&j->frames.part[1]) != 0) {
		log_warn("quote request with %d frames dropped: no tag to answer to",
			 j->frames.count);
		return;
	}
	reply = reply_body(j, &error, &len);
	/* Sent after the request's identity, empty and tag frames. For a
	 * front door gone meanwhile the ROUTER drops the reply; the request
	 * has timed out there, or died with it. */
	if (zsock_reply(qs->sock, &j->frames, reply, len) != OK)
		log_warn("quote %s: no reply sent",
			 job_request_id(j) != NULL ? job_request_id(j) : "?");
	free(error);
}

static void job_free(struct quote_job *j)
{
	free(j->q.reply);
	claims__quote_compute__free_unpacked(j->compute, NULL);
	free(j->refused_request_id);
	envelope_free(&j->env);
	zframes_close(&j->frames);
}

/* The quotes waiting, up to QUOTE_BATCH: one read of the counters, one
 * INSERT, then every reply. */
static void serve_batch(struct quote_server *qs)
{
	struct quote_job jobs[QUOTE_BATCH];
	struct reimburse_quote q[QUOTE_BATCH];
	int n = 0, k = 0, idx[QUOTE_BATCH], status = OK;
	int64_t start = clock_mono_us();

	while (n < QUOTE_BATCH && receive(qs, &jobs[n]))
		n++;
	k = quotes_to_compute(jobs, n, q, idx);
	if (k > 0 &&
	    (pg_check(qs->db) != OK || reimburse_quote_batch(&qs->rctx, qs->db, q, k) != OK))
		status = ERR;
	for (int j = 0; j < k; j++)
		jobs[idx[j]].q = q[j];
	for (int i = 0; i < n; i++) {
		if (status != OK) {
			free(jobs[i].q.reply);
			jobs[i].q.reply = NULL;
		}
		answer(qs, &jobs[i]);
		if (jobs[i].q.reply != NULL)
			rows_add(qs->rows, &jobs[i]);
		job_free(&jobs[i]);
	}
	if (status != OK) {
		metric_add(qs->failed, k);
		qs->db_checked_us = 0; /* away? the next turn leaves the front doors */
	}
	metric_add(qs->served, n);
	if (n > 0)
		metric_observe_us(qs->latency, clock_mono_us() - start);
}

/* Connects the socket to every front door of the list, or (connect 0)
 * disconnects it from them. An endpoint that fails is logged and the
 * others are still done: a disconnect fails only for an endpoint not
 * connected, and a connect of an endpoint that connected at the start
 * cannot fail but for a lack of memory. ERR if any failed. */
static int front_doors(struct quote_server *q, int connect)
{
	char *list = xstrdup(q->endpoints), *save = NULL;
	int status = OK;

	for (char *e = strtok_r(list, ", ", &save); e != NULL; e = strtok_r(NULL, ", ", &save)) {
		if ((connect ? zmq_connect(q->sock, e) : zmq_disconnect(q->sock, e)) != 0) {
			log_error("quote server: %s %s: %s", connect ? "connect" : "disconnect", e,
				  zmq_strerror(zmq_errno()));
			status = ERR;
		} else if (connect) {
			log_info("serving quotes to the front door at %s", e);
		}
	}
	free(list);
	return status;
}

/* Leaves the front doors, giving the replies just queued (the batch that
 * found the database away, answered UNAVAILABLE) QUOTE_LEAVE_LINGER_MS
 * to go out: a disconnect drops what its connection still holds after
 * the socket's linger, which is 0 otherwise. */
static void leave_front_doors(struct quote_server *q)
{
	int linger = QUOTE_LEAVE_LINGER_MS, zero = 0;

	if (zmq_setsockopt(q->sock, ZMQ_LINGER, &linger, sizeof(linger)) != 0)
		log_warn("quote server: linger: %s", zmq_strerror(zmq_errno()));
	if (front_doors(q, 0) != OK)
		log_warn("quote server: some front doors were not left (see above)");
	if (zmq_setsockopt(q->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0)
		log_warn("quote server: linger: %s", zmq_strerror(zmq_errno()));
}

/* The formulas read again every reload_seconds, and at once after a
 * change notice. A reload that fails after a notice is tried again the
 * next second, not the next period: meanwhile quotes are computed on
 * guarantees the invoice will not get. */
static void reload_formulas(struct quote_server *q)
{
	int64_t now = clock_mono_us(), period = q->reload_seconds * 1000000;

	if (q->formulas_changed ? now - q->retry_reload_us < 1000000
				: now - q->rctx.formulas.loaded_at_us <= period)
		return;
	if (formulas_load(q->db, &q->rctx.formulas) == OK) {
		q->formulas_changed = 0;
		return;
	}
	q->rctx.formulas.loaded_at_us = now;
	q->retry_reload_us = now;
	log_warn("quote thread: formula reload failed; keeping the loaded versions%s",
		 q->formulas_changed ? " (a change was announced: trying again in 1 s)" : "");
}

/* A worker whose database is away can only answer UNAVAILABLE, and the
 * front doors' DEALERs deal every connected worker its share of the
 * quotes: it leaves them until the database answers again, so that the
 * other replicas get every quote meanwhile. Requests it had already
 * received are answered; those on their way when it leaves reach the
 * client as TIMEOUT. */
static void follow_database(struct quote_server *q)
{
	int up;

	if (q->db_checked_us != 0 && clock_mono_us() - q->db_checked_us < QUOTE_DB_CHECK_US)
		return;
	up = pg_ping(q->db) == OK;
	q->db_checked_us = clock_mono_us();
	if (!up && !q->detached) {
		log_warn("quote server: database away; leaving the front doors until it is back");
		leave_front_doors(q);
		q->detached = 1;
		metric_set(q->serving, 0);
	} else if (up && q->detached) {
		if (front_doors(q, 1) != OK)
			log_warn("quote server: some front doors were not joined (see above)");
		q->detached = 0;
		metric_set(q->serving, 1);
		log_info("quote server: database back; serving quotes again");
	}
}

static void *quote_loop(void *arg)
{
	struct quote_server *q = arg;

	while (!atomic_load(&q->stop)) {
		zmq_pollitem_t item = {q->sock, 0, ZMQ_POLLIN, 0};
		/* With quotes to store, wake up after a short idle time. */
		int rc = zmq_poll(&item, 1, q->rows->count > 0 ? QUOTE_IDLE_MS : 200);

		if (rc < 0 && zmq_errno() != EINTR) {
			log_error("quote poll: %s", zmq_strerror(zmq_errno()));
			break;
		}
		/* A change of the formulas is read before the next quote. */
		if (pg_notified(q->db, FORMULAS_CHANNEL)) {
			q->formulas_changed = 1;
			q->retry_reload_us = 0;
		}
		reload_formulas(q);
		if (rc > 0)
			serve_batch(q);
		follow_database(q);
		if (q->rows->count > 0 && (q->rows->count >= 256 || rc == 0 ||
					   clock_mono_us() - q->rows->first_us >= QUOTE_FLUSH_US))
			rows_flush(q);
	}
	rows_flush(q); /* stopping: what was answered is stored */
	if (q->rows->count > 0) {
		/* ... or, the database away, said and counted as lost, not
		 * freed unseen with the thread. */
		log_error("stopping: %d quotes could not be stored and are dropped; invoices"
			  " citing them will be refused QUOTE_UNKNOWN",
			  q->rows->count);
		metric_add(q->lost, q->rows->count);
		rows_reset(q->rows);
	}
	return NULL;
}

static int connect_all(struct quote_server *q, const char *endpoints)
{
	int zero = 0;

	q->endpoints = xstrdup(endpoints);
	q->sock = zmq_socket(q->zctx, ZMQ_ROUTER);
	if (q->sock == NULL || zmq_setsockopt(q->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zsock_heartbeat(q->sock) != OK)
		return ERR;
	return front_doors(q, 1);
}

int quote_prepare(struct pg *db)
{
	return pg_prepare(db, "quote_store", sql_store, S_COUNT);
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
	q->rows = xcalloc(1, sizeof(*q->rows));
	rows_reset(q->rows);
	q->stored =
		metric_counter("reimburse_quotes_stored_total", "Quotes written to the database");
	q->lost = metric_counter("reimburse_quotes_lost_total",
				 "Quotes answered but never stored (database down too long)");
	q->serving =
		metric_gauge("reimburse_quote_serving",
			     "1 while connected to the front doors, 0 while the database is away");
	metric_set(q->serving, 1);
	q->latency = metric_histogram("reimburse_quote_batch_seconds",
				      "Quote batch: first request read to last reply sent");
	q->zctx = zmq_ctx_new();
	if (q->zctx == NULL || pg_open_serving(dsn, &q->db) != OK ||
	    pg_set(q->db, "synchronous_commit", "off") != OK || reimburse_prepare(q->db) != OK ||
	    quote_prepare(q->db) != OK || pg_listen(q->db, FORMULAS_CHANNEL) != OK ||
	    formulas_load(q->db, &q->rctx.formulas) != OK || connect_all(q, endpoints) != OK)
		goto fail;
	if (thread_start(&q->thread, quote_loop, q, "quote server") != OK)
		goto fail;
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
	free(q->endpoints);
	if (q->rows != NULL) {
		for (int k = 0; k < S_COUNT; k++)
			pgarray_free(&q->rows->a[k]);
		free(q->rows);
	}
	free(q);
}
