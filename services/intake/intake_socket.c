/*
 * NAME
 *	intake_socket.c - the synchronous submission socket (ZeroMQ ROUTER)
 *
 * DESCRIPTION
 *	Clients (REQ, or DEALER with an empty delimiter frame) send one
 *	Envelope(CLAIM_SUBMITTED) and receive one Envelope(SUBMIT_REPLY)
 *	whose request_id is the request envelope's message id. The reply is
 *	sent after the PostgreSQL commit: "accepted" means the claim and its
 *	event are durable.
 *
 *	The socket's protections (size limit, no blocking on a slow or gone
 *	client) are those of common/zsock.h; malformed envelopes get a reply
 *	with reason BAD_ENVELOPE, a wrong type WRONG_TYPE, a message with
 *	the wrong frames BAD_FRAMES.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "intake/intake.h"

struct intake_socket {
	void *ctx;
	void *router;
	struct metric *requests, *latency;
};

int intake_socket_open(const char *endpoint, struct intake_socket **out)
{
	struct intake_socket *s = xcalloc(1, sizeof(*s));

	s->ctx = zmq_ctx_new();
	if (s->ctx == NULL || zsock_bind_router(s->ctx, endpoint, &s->router) != OK) {
		intake_socket_close(s);
		return ERR;
	}
	s->requests = metric_counter("intake_socket_requests_total", "Socket submissions");
	s->latency = metric_histogram("intake_socket_seconds",
				      "Socket submission: receive to reply, commit included");
	log_info("submission socket on %s", endpoint);
	*out = s;
	return OK;
}

void intake_socket_close(struct intake_socket *s)
{
	if (s == NULL)
		return;
	if (s->router != NULL && zmq_close(s->router) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	if (s->ctx != NULL && zmq_ctx_term(s->ctx) != 0)
		log_warn("zmq_ctx_term: %s", zmq_strerror(zmq_errno()));
	free(s);
}

static void send_reply(void *sock, const struct zframes *request, const char *request_id,
		       const struct intake_outcome *o)
{
	Claims__SubmitReply r = CLAIMS__SUBMIT_REPLY__INIT;
	char id[UUID_STR_LEN];
	uint8_t *buf;
	size_t len;

	r.has_status = r.has_duplicate = 1;
	r.status = o->accepted ? CLAIMS__SUBMIT_STATUS__SUBMIT_ACCEPTED
			       : CLAIMS__SUBMIT_STATUS__SUBMIT_REJECTED;
	r.duplicate = o->duplicate;
	r.has_content_differs = o->content_differs;
	r.content_differs = o->content_differs;
	r.claim_id = o->accepted ? (char *)o->claim_id : NULL;
	r.reason_code = o->accepted ? NULL : (char *)o->reason_code;
	r.field = o->accepted ? NULL : (char *)o->field;
	r.message = o->accepted ? NULL : (char *)o->message;
	r.request_id = (char *)request_id;
	if (envelope_pack(CLAIMS__MESSAGE_TYPE__SUBMIT_REPLY, &r.base, NULL, "intake", id, &buf,
			  &len) != OK)
		return;
	/* A client that has gone is not our failure: zsock_reply logged it. */
	if (zsock_reply(sock, request, buf, len) != OK)
		metric_add(metric_counter("intake_socket_undelivered_total",
					  "Replies to clients that had gone"),
			   1);
	free(buf);
}

/* Decode, decide and commit one request; fills the outcome to send. */
static int handle_request(struct pg *db, const void *body, size_t len, struct pb_budget *budget,
			  struct envelope *env, struct intake_outcome *o)
{
	Claims__ClaimSubmitted *s;
	char why[160];
	int status, committing = 0;

	memset(o, 0, sizeof(*o));
	if (envelope_unpack_budgeted(budget, body, len, env, why, sizeof(why)) != OK) {
		intake_reject(o, "BAD_ENVELOPE", "", "%s", why);
		return OK;
	}
	if (env->type != CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED) {
		intake_reject(o, "WRONG_TYPE", "type", "expected CLAIM_SUBMITTED, got %s",
			      envelope_type_name(env->type));
		return OK;
	}
	if (intake_decode_claim(budget, env, &s, why, sizeof(why)) != OK) {
		intake_reject(o, "BAD_PAYLOAD", "payload", "%s", why);
		return OK;
	}
	if (db == NULL) { /* the database is away: say so at once, keep nothing */
		intake_reject(o, "UNAVAILABLE", "", "the claim could not be recorded; retry later");
		claims__claim_submitted__free_unpacked(s, &budget->allocator);
		return OK;
	}
	log_set_trace(env->trace_id);
	intake_count_discard(); /* the transaction's own tally, nothing before it */
	status = pg_begin(db);
	if (status == OK &&
	    (status = intake_submit(db, s, env->trace_id, env->message_id, o)) == OK) {
		committing = 1;
		status = pg_commit(db);
	}
	if (status != OK) {
		/* A COMMIT whose answer was lost with the connection may have
		 * been made: the sender must not read "nothing recorded". The
		 * same submission again gives the first answer either way. */
		int unknown = committing && PQstatus(pg_conn(db)) != CONNECTION_OK;

		pg_rollback(db);
		memset(o, 0, sizeof(*o)); /* nothing of the outcome rolled back stays */
		if (unknown)
			intake_reject(o, "UNAVAILABLE", "",
				      "the database went away during the commit: the claim may be"
				      " recorded; send it again, unchanged, for its answer");
		else
			intake_reject(o, "UNAVAILABLE", "",
				      "the claim could not be recorded; retry later");
	} else {
		intake_count_committed();
	}
	claims__claim_submitted__free_unpacked(s, &budget->allocator);
	log_set_trace(NULL);
	return status;
}

/* 1 when a request was served, 0 when none was waiting, ERR. */
/* What serve_one() did with the socket. */
enum served {
	SERVED_NONE,	  /* nothing waiting */
	SERVED_OK,	  /* answered */
	SERVED_TX_FAILED, /* answered (UNAVAILABLE): its transaction failed */
	SERVED_BROKEN,	  /* the socket itself failed */
};

static enum served serve_one(struct intake_socket *s, struct pg *db)
{
	struct zframes request;
	struct intake_outcome o;
	struct pb_budget budget; /* outlives env, which frees through it */
	struct envelope env;
	const void *body;
	size_t len;
	int status = OK;
	int64_t start = clock_mono_us();

	if (zsock_recv(s->router, &request) != OK)
		return errno == EAGAIN ? SERVED_NONE : SERVED_BROKEN;
	memset(&o, 0, sizeof(o));
	memset(&env, 0, sizeof(env));
	body = zframes_body(&request, &len);
	if (request.truncated || body == NULL)
		intake_reject(&o, "BAD_FRAMES", "", "expected [identity, (empty), envelope]");
	else
		status = handle_request(db, body, len, &budget, &env, &o);
	send_reply(s->router, &request, env.message_id, &o);
	envelope_free(&env);
	zframes_close(&request);
	metric_add(s->requests, 1);
	metric_observe_us(s->latency, clock_mono_us() - start);
	return status == OK ? SERVED_OK : SERVED_TX_FAILED;
}

int intake_socket_serve(struct intake_socket *s, struct pg *db, int max, int timeout_ms,
			int *served)
{
	zmq_pollitem_t item = {s->router, 0, ZMQ_POLLIN, 0};
	int rc;

	*served = 0;
	rc = zmq_poll(&item, 1, timeout_ms);
	if (rc < 0) {
		if (zmq_errno() == EINTR)
			return OK;
		log_error("zmq_poll: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	while (*served < max) {
		enum served r = serve_one(s, db);

		if (r == SERVED_NONE)
			break;
		if (r == SERVED_BROKEN)
			return ERR;
		(*served)++;
		/* A request whose transaction failed has had its answer
		 * (UNAVAILABLE); the rest wait for the next step, after the
		 * Kafka side's turn. */
		if (r == SERVED_TX_FAILED)
			break;
	}
	return OK;
}
