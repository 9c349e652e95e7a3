/*
 * NAME
 *	tpgate_front.c - the professionals' socket: read, admit, answer
 *
 * DESCRIPTION
 *	One pass of the loop reads the requests waiting (up to TP_BATCH),
 *	refuses at once what needs no I/O to refuse (frames, identity,
 *	envelope, type, staleness, payload, missing session; envelope and
 *	payload decoded within a memory budget, tpgate_decode.c) and frees
 *	it, has the rest admitted by Redis together (tpgate_admit.c), then
 *	hands each to its handler (tpgate_requests.c). Replies of the
 *	workers behind (quotes, invoices) are relayed here too, and requests
 *	past their deadline answered TIMEOUT.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/tpclient.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "rules/rules.h"
#include "tpgate/tpgate.h"

/* ---- replies ---------------------------------------------------------------------------- */

/* The latency histogram of a request kind, looked up once. */
void tp_observe(const char *kind, int64_t started_us)
{
	static const char *kinds[8];
	static struct metric *histograms[8];
	int i = 0;

	while (i < 8 && kinds[i] != NULL && strcmp(kinds[i], kind) != 0)
		i++;
	if (i == 8)
		return;
	if (kinds[i] == NULL) {
		char name[80];

		snprintf(name, sizeof(name), "tpgate_request_seconds{type=\"%s\"}", kind);
		histograms[i] = metric_histogram(name, "Request: received to reply sent");
		kinds[i] = kind;
	}
	metric_observe_us(histograms[i], clock_mono_us() - started_us);
}

static struct metric *undelivered_replies(void)
{
	return metric_counter("tpgate_undelivered_total", "Replies to professionals that had gone");
}

static struct metric *late_replies(void)
{
	return metric_counter("tpgate_late_replies_total",
			      "Worker replies dropped: after the request expired, malformed,"
			      " or naming a request of the other socket");
}

void tp_front_metrics(void)
{
	/* Shown at 0 from the start: a series that appears only with its
	 * first event cannot be told from a front door that is not
	 * scraped, and rate() misses that first event. */
	metric_add(undelivered_replies(), 0);
	metric_add(late_replies(), 0);
}

void tp_send(struct tpgate *g, const struct tp_route *r, const uint8_t *body, size_t len)
{
	if (zmq_send(g->front, r->id, r->id_len, ZMQ_SNDMORE) < 0 ||
	    (r->delimiter && zmq_send(g->front, "", 0, ZMQ_SNDMORE) < 0) ||
	    zmq_send(g->front, body, len, 0) < 0)
		metric_add(undelivered_replies(), 1);
}

void tp_reply(struct tpgate *g, const struct tp_route *r, const char *trace_id,
	      Claims__MessageType type, const ProtobufCMessage *m)
{
	char id[UUID_STR_LEN];
	uint8_t *buf;
	size_t len;

	if (envelope_pack(type, m, trace_id, "tpgate", id, &buf, &len) != OK)
		return;
	tp_send(g, r, buf, len);
	free(buf);
}

void tp_reply_error(struct tpgate *g, const struct tp_route *r, const char *trace_id,
		    const char *request_id, const char *code, const char *fmt, ...)
{
	Claims__ErrorReply e = CLAIMS__ERROR_REPLY__INIT;
	char message[256], name[96];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	e.request_id = (char *)request_id;
	e.code = (char *)code;
	e.message = message;
	tp_reply(g, r, trace_id, CLAIMS__MESSAGE_TYPE__ERROR_REPLY, &e.base);
	snprintf(name, sizeof(name), "tpgate_errors_total{code=\"%s\"}",
		 tp_error_code_ok(code) ? code : "OTHER");
	metric_add(metric_counter(name, "Requests answered with an ErrorReply, by code"), 1);
}

/* ---- the front socket ------------------------------------------------------------------------ */

static const char *kind_of(Claims__MessageType type)
{
	switch (type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return "session_open";
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		return "eligibility";
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		return "quote";
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		return "invoice";
	case CLAIMS__MESSAGE_TYPE__INVOICE_STATUS_REQUEST:
		return "invoice_status";
	default:
		return NULL;
	}
}

/* Envelope checks common to every request; ERR: already answered. */
static int check_envelope(struct tpgate *g, struct request *rq, const void *body, size_t len)
{
	char why[160];
	int64_t now, window;

	if (envelope_unpack_budgeted(&rq->budget, body, len, &rq->env, why, sizeof(why)) != OK) {
		FAIL(rq, "BAD_ENVELOPE", "%s", why);
		return ERR;
	}
	/* envelope_unpack() accepts only a UUID as message id: the request id. */
	snprintf(rq->request_id, sizeof(rq->request_id), "%s", rq->env.message_id);
	rq->kind = kind_of(rq->env.type);
	if (rq->kind == NULL) {
		FAIL(rq, "WRONG_TYPE", "%s is not a tiers-payant request",
		     envelope_type_name(rq->env.type));
		return ERR;
	}
	/* No subtraction of the client's value: any int64 must compare. */
	now = clock_now_us();
	window = g->limits.replay_window_s * 1000000;
	if (rq->env.created_at_us < now - window || rq->env.created_at_us > now + window) {
		FAIL(rq, "STALE_REQUEST", "created_at_us is more than %ld s away from our clock",
		     g->limits.replay_window_s);
		return ERR;
	}
	return OK;
}

/* The reply has the shape of the request: the empty delimiter back when
 * the request began with one, whatever came after it. A REQ client that
 * sent several frames (refused: BAD_FRAME) gets [id, "", a, b, ...] here
 * and drops a reply without the delimiter, waiting for ever. */
static void route_of(const struct zframes *f, struct tp_route *r)
{
	zmq_msg_t *id = (zmq_msg_t *)&f->part[0];

	r->id_len = zmq_msg_size(id) < sizeof(r->id) ? zmq_msg_size(id) : sizeof(r->id);
	memcpy(r->id, zmq_msg_data(id), r->id_len);
	r->delimiter = f->count >= 3 && zmq_msg_size((zmq_msg_t *)&f->part[1]) == 0;
}

/* The payload decoded with the descriptor of the envelope's type, within
 * the request's budget, and what the admission check needs from it.
 * ERR: answered. */
static int decode_payload(struct tpgate *g, struct request *rq)
{
	const Claims__BeneficiaryRef *b = NULL;
	const char *token = NULL;
	char why[200];

	rq->msg = tp_decode_payload(&rq->budget, &rq->env, why, sizeof(why));
	if (rq->msg == NULL) {
		FAIL(rq, "BAD_PAYLOAD", "%s", why);
		return ERR;
	}
	/* Every request but SESSION_OPEN has the session token as field 1
	 * and, but INVOICE_STATUS, the beneficiary. */
	switch (rq->env.type) {
	case CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST:
		return OK;
	case CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST:
		token = ((Claims__EligibilityRequest *)rq->msg)->session_token;
		b = ((Claims__EligibilityRequest *)rq->msg)->beneficiary;
		break;
	case CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST:
		token = ((Claims__QuoteRequest *)rq->msg)->session_token;
		b = ((Claims__QuoteRequest *)rq->msg)->beneficiary;
		break;
	case CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST:
		token = ((Claims__InvoiceRequest *)rq->msg)->session_token;
		b = ((Claims__InvoiceRequest *)rq->msg)->beneficiary;
		break;
	default:
		token = ((Claims__InvoiceStatusRequest *)rq->msg)->session_token;
		break;
	}
	if (token == NULL || token[0] == '\0') {
		FAIL(rq, "NO_SESSION", "session_token is required; open a session first");
		return ERR;
	}
	rq->session_token = token;
	if (b != NULL && tp_text_ok(b->membership_number, 32))
		rq->membership = b->membership_number;
	return OK;
}

/* Read one request and check what needs no I/O. 0: none waiting;
 * 1: read (answered already if rq->answered). */
static int read_request(struct tpgate *g, struct request *rq)
{
	struct zframes f;
	const char *user_id;
	const void *body;
	size_t len;

	if (zsock_recv(g->front, &f) != OK)
		return 0;
	memset(rq, 0, sizeof(*rq));
	rq->received_us = clock_mono_us();
	rq->answered = 1;
	route_of(&f, &rq->route);
	body = zframes_body(&f, &len);
	if (f.truncated || f.count < 2 || f.count > 3 ||
	    (f.count == 3 && zmq_msg_size(&f.part[1]) != 0)) {
		FAIL(rq, "BAD_FRAME", "a request is one frame (after an optional empty delimiter)");
	} else if ((user_id = zmq_msg_gets(&f.part[f.count - 1], "User-Id")) == NULL ||
		   tp_identity_parse(user_id, &rq->who) != OK) {
		FAIL(rq, "NOT_AUTHORISED", "connection without a professional identity");
	} else if (check_envelope(g, rq, body, len) == OK && decode_payload(g, rq) == OK) {
		rq->answered = 0;
		static struct metric *received;

		if (received == NULL)
			received = metric_counter("tpgate_requests_total", "Requests received");
		metric_add(received, 1);
	}
	zframes_close(&f);
	return 1;
}

static void request_free(struct request *rq)
{
	if (rq->msg != NULL)
		protobuf_c_message_free_unpacked(rq->msg, &rq->budget.allocator);
	if (rq->adm != NULL)
		tp_admission_free(rq->adm);
	envelope_free(&rq->env);
	memset(rq, 0, sizeof(*rq));
}

/* The requests waiting, up to TP_BATCH: read, admitted together (one
 * Redis round trip), then served in order. Returns how many were read. */
int tp_serve_batch(struct tpgate *g)
{
	struct request *rq = g->batch;
	struct tp_admission adm[TP_BATCH];
	int received = 0, n = 0;

	while (received < TP_BATCH && read_request(g, &rq[n])) {
		received++;
		/* One refused while being read is done with: what it holds
		 * is freed at once, not kept until the batch is served. */
		if (rq[n].answered)
			request_free(&rq[n]);
		else
			n++;
	}
	for (int i = 0; i < n; i++) {
		memset(&adm[i], 0, sizeof(adm[i]));
		adm[i].who = &rq[i].who;
		adm[i].session_token = rq[i].session_token;
		adm[i].request_id = rq[i].request_id;
		adm[i].membership = rq[i].membership;
		rq[i].adm = &adm[i];
	}
	if (n > 0)
		tp_admit_batch(g->redis, &g->limits, adm, n);
	for (int i = 0; i < n; i++) {
		log_set_trace(rq[i].env.trace_id);
		tp_dispatch(g, &rq[i]);
		log_set_trace(NULL);
		request_free(&rq[i]);
	}
	return received;
}

/* ---- backend replies and deadlines ------------------------------------------------------- */

/* A quote worker answers the professional directly: passed on as is,
 * once it is sure to be the answer to this professional's request (the
 * tag says which slot; the request id says the slot was not confused). */
static void quote_reply(struct tpgate *g, struct tp_pending *p, const struct envelope *env,
			const uint8_t *body, size_t len)
{
	char echoed[TP_REQUEST_ID_MAX + 1];

	tp_reply_request_id(env, echoed, sizeof(echoed));
	if (strcmp(echoed, p->request_id) != 0) {
		log_error("quote reply for request %s arrived on the slot of %s: not passed on",
			  echoed, p->request_id);
		tp_reply_error(g, &p->route, p->trace_id, p->request_id, "INTERNAL",
			       "the quote could not be matched to its request; retry");
		return;
	}
	tp_send(g, &p->route, body, len);
}

/* A worker's reply to the request of slot p. Whatever the front door
 * writes itself carries the request's trace id (p->trace_id), never the
 * worker's envelope's: the client ties its logs to the trace it sent. */
static void backend_reply(struct tpgate *g, struct tp_pending *p, const uint8_t *body, size_t len)
{
	struct envelope env;
	char why[160];

	if (envelope_unpack(body, len, &env, why, sizeof(why)) != OK) {
		tp_reply_error(g, &p->route, p->trace_id, p->request_id, "INTERNAL",
			       "a worker's answer did not decode: %s", why);
		return;
	}
	if (p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST &&
	    env.type == CLAIMS__MESSAGE_TYPE__QUOTE_REPLY) {
		quote_reply(g, p, &env, body, len);
	} else if (env.type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY) {
		Claims__ErrorReply *e =
			claims__error_reply__unpack(NULL, env.payload_len, env.payload);

		/* A worker's code is passed on when it is one (a worker's
		 * bug must not reach the clients' parsers, nor add a label
		 * to the metrics at each new text). */
		tp_reply_error(g, &p->route, p->trace_id, p->request_id,
			       e && e->code && tp_error_code_ok(e->code) ? e->code : "INTERNAL",
			       "%s", e && e->message ? e->message : "");
		claims__error_reply__free_unpacked(e, NULL);
	} else if (p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST) {
		tp_reply_error(g, &p->route, p->trace_id, p->request_id, "INTERNAL",
			       "unexpected %s from a quote worker", envelope_type_name(env.type));
	} else {
		tp_invoice_done(g, p, &env);
	}
	envelope_free(&env);
}

void tp_backend_replies(struct tpgate *g, void *sock)
{
	struct tp_pending *p;
	const uint8_t *body;
	size_t len;

	while (tp_backend_recv(g->backends, sock, &p, &body, &len) == 1) {
		if (p == NULL) {
			metric_add(late_replies(), 1);
			continue;
		}
		backend_reply(g, p, body, len);
		/* From its receipt: the wait behind the batch before it, the
		 * admission and the rights read count, as for the others. */
		tp_observe(p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote" : "invoice",
			   p->received_us);
		tp_pending_release(g->backends, p);
	}
}

void tp_expire(struct tpgate *g)
{
	struct tp_pending *p;
	int64_t now = clock_mono_us();

	/* Deadlines are seconds away: a look every few milliseconds will do. */
	if (now < g->expiry_check_us)
		return;
	g->expiry_check_us = now + 5000;
	while ((p = tp_pending_expired(g->backends, now)) != NULL) {
		tp_reply_error(g, &p->route, p->trace_id, p->request_id, "TIMEOUT",
			       "no answer from the %s within %ld ms; ask INVOICE_STATUS or retry",
			       p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote workers"
									      : "claims intake",
			       g->backend_timeout_ms);
		/* A timeout is an answer too, the slowest: left out, the
		 * histogram would look best when the workers are lost. */
		tp_observe(p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote" : "invoice",
			   p->received_us);
		tp_pending_release(g->backends, p);
	}
}
