/*
 * NAME
 *	tpgate_backend.c - requests in flight to the workers behind the
 *	front door
 *
 * DESCRIPTION
 *	A QUOTE is computed by a reimbursement worker, an INVOICE recorded
 *	by intake; the front door does not wait for either. It hands the
 *	request on and goes back to its socket; the reply comes back on a
 *	backend socket and is matched to the client by a slot tag.
 *
 *	- quotes: a DEALER bound on CLAIMS_TP_QUOTE_ENDPOINT; each
 *	  reimbursement worker connects a ROUTER socket to every front door
 *	  and answers on the connection the request came from. DEALER hands
 *	  requests round-robin to the connected workers, so more replicas
 *	  share the load and a worker that leaves stops receiving any. A
 *	  worker that stops answering without leaving (a stopped process,
 *	  a host gone) is dropped by the heartbeats (zsock_heartbeat: 3 s
 *	  of silence), and one whose database is away leaves by itself
 *	  (reimburse_quote.c): neither keeps being dealt its share.
 *	- invoices: a DEALER connected to intake's submission socket
 *	  (ZMQ_IMMEDIATE: no queueing for an intake that is not there).
 *
 *	Frames on both: [empty][tag][envelope], the tag being 16 bytes:
 *	this process's incarnation (random at start), slot index and slot
 *	generation. A reply whose tag names a slot that has since expired or
 *	been reused, or another incarnation's slot (a reply a worker queued
 *	for a front door that restarted meanwhile), is dropped, and so is a
 *	reply on one socket naming a slot whose request went out on the
 *	other. Slots are a
 *	fixed table (CLAIMS_TP_MAX_IN_FLIGHT): when it is full the client
 *	is told BUSY at once, and every slot has a deadline after which
 *	the client gets TIMEOUT: a client never waits without bound. One
 *	professional holds at most CLAIMS_TP_MAX_IN_FLIGHT_PER_PRO slots
 *	(BUSY beyond), so that one flooding the front door, within its
 *	rate limit, cannot take the slots of the others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include <sodium.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "common/zsock.h"
#include "tpgate/tpgate.h"

struct tp_backends {
	void *quotes, *intake;
	struct tp_pending *slots;
	int capacity, in_flight, next;
	uint64_t incarnation;
	struct zframes last; /* the last reply handed out */
};

/* The tag a request carries to a worker and back. */
struct tag {
	uint64_t incarnation;
	uint32_t slot, generation;
};

static int dealer(void *ctx, const char *endpoint, int bind, void **out)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int zero = 0, one = 1;

	if (s == NULL || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &zero, sizeof(zero)) != 0 || zsock_heartbeat(s) != OK ||
	    (!bind && zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one)) != 0) ||
	    (bind ? zmq_bind(s, endpoint) : zmq_connect(s, endpoint)) != 0) {
		log_error("backend %s %s: %s", bind ? "bind" : "connect", endpoint,
			  zmq_strerror(zmq_errno()));
		if (s != NULL)
			zmq_close(s);
		return ERR;
	}
	*out = s;
	return OK;
}

int tp_backends_open(void *ctx, const char *quote_endpoint, const char *intake_endpoint,
		     int capacity, struct tp_backends **out)
{
	struct tp_backends *b = xcalloc(1, sizeof(*b));

	b->capacity = capacity;
	b->slots = xcalloc((size_t)capacity, sizeof(*b->slots));
	randombytes_buf(&b->incarnation, sizeof(b->incarnation));
	if (dealer(ctx, quote_endpoint, 1, &b->quotes) != OK ||
	    dealer(ctx, intake_endpoint, 0, &b->intake) != OK) {
		tp_backends_close(b);
		return ERR;
	}
	log_info("quote workers connect to %s; invoices go to intake at %s", quote_endpoint,
		 intake_endpoint);
	*out = b;
	return OK;
}

void tp_backends_close(struct tp_backends *b)
{
	if (b == NULL)
		return;
	zframes_close(&b->last);
	if (b->quotes != NULL && zmq_close(b->quotes) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	if (b->intake != NULL && zmq_close(b->intake) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	free(b->slots);
	free(b);
}

void *tp_backends_quote_socket(struct tp_backends *b)
{
	return b->quotes;
}

void *tp_backends_intake_socket(struct tp_backends *b)
{
	return b->intake;
}

int tp_backends_in_flight(const struct tp_backends *b)
{
	return b->in_flight;
}

/* The owner's requests in flight: a walk of the table (a thousand
 * slots, a microsecond), made only for the requests that take one. */
static int owned(const struct tp_backends *b, int64_t owner)
{
	int n = 0;

	for (int i = 0; i < b->capacity; i++)
		n += b->slots[i].used && b->slots[i].owner == owner;
	return n;
}

struct tp_pending *tp_pending_new(struct tp_backends *b, Claims__MessageType kind,
				  int64_t timeout_ms, int64_t owner, int per_owner, int *owner_full)
{
	*owner_full = 0;
	if (b->in_flight < b->capacity && owned(b, owner) >= per_owner) {
		*owner_full = 1;
		return NULL;
	}
	for (int k = 0; k < b->capacity; k++) {
		int i = (b->next + k) % b->capacity;
		struct tp_pending *p = &b->slots[i];
		uint32_t generation = p->generation + 1;

		if (p->used)
			continue;
		memset(p, 0, sizeof(*p));
		p->used = 1;
		p->generation = generation;
		p->kind = kind;
		p->owner = owner;
		p->started_us = clock_mono_us();
		p->deadline_us = p->started_us + timeout_ms * 1000;
		b->next = (i + 1) % b->capacity;
		b->in_flight++;
		return p;
	}
	return NULL;
}

void tp_pending_release(struct tp_backends *b, struct tp_pending *p)
{
	if (p->used) {
		p->used = 0;
		b->in_flight--;
	}
}

int tp_pending_send(struct tp_backends *b, struct tp_pending *p, const uint8_t *envelope,
		    size_t len)
{
	void *sock = p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? b->quotes : b->intake;
	struct tag tag = {b->incarnation, (uint32_t)(p - b->slots), p->generation};

	if (zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
		return ERR; /* EAGAIN: no worker connected, nothing was sent */
	if (zmq_send(sock, &tag, sizeof(tag), ZMQ_SNDMORE) < 0 ||
	    zmq_send(sock, envelope, len, 0) < 0) {
		log_error("backend send: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	return OK;
}

int tp_backend_recv(struct tp_backends *b, void *sock, struct tp_pending **slot,
		    const uint8_t **body, size_t *len)
{
	Claims__MessageType kind = sock == b->quotes ? CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST
						     : CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST;
	struct tp_pending *p = NULL;
	struct tag tag;

	*slot = NULL;
	zframes_close(&b->last); /* the body handed out by the previous call */
	if (zsock_recv(sock, &b->last) != OK)
		return 0;
	if (b->last.truncated || b->last.count != 3 ||
	    zmq_msg_size(&b->last.part[1]) != sizeof(tag)) {
		log_warn("backend reply with %d frames dropped", b->last.count);
		return 1;
	}
	memcpy(&tag, zmq_msg_data(&b->last.part[1]), sizeof(tag));
	if (tag.incarnation == b->incarnation && tag.slot < (uint32_t)b->capacity &&
	    b->slots[tag.slot].used && b->slots[tag.slot].generation == tag.generation)
		p = &b->slots[tag.slot];
	/* A reply comes back on the socket its request went out on. One
	 * naming a slot of the other kind (a quote worker's bug, or a peer
	 * of the bound quote endpoint replaying tags it saw) must not answer
	 * that request: an invoice would be told recorded by a quote worker.
	 * The slot keeps waiting for its own answer, or its deadline. */
	if (p != NULL && p->kind != kind) {
		log_error("a reply on the %s socket names %s slot: dropped",
			  kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "quote" : "intake",
			  p->kind == CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST ? "a quote's"
									 : "an invoice's");
		return 1;
	}
	*slot = p;
	*body = zframes_body(&b->last, len);
	return 1;
}

struct tp_pending *tp_pending_expired(struct tp_backends *b, int64_t now_us)
{
	if (b->in_flight == 0)
		return NULL;
	for (int i = 0; i < b->capacity; i++)
		if (b->slots[i].used && b->slots[i].deadline_us <= now_us)
			return &b->slots[i];
	return NULL;
}
