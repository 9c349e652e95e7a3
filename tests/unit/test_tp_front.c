/*
 * NAME
 *	test_tp_front.c - what the tiers-payant front door trusts of its
 *	peers, without servers
 *
 * DESCRIPTION
 *	White-box tests of tpgate_backend.c (included here), over inproc
 *	sockets standing for a quote worker and intake: a reply answers the
 *	request of its tag only on the socket that request went out on.
 */
#include "../../services/tpgate/tpgate_backend.c"
#include "test.h"

static void *ctx;

static int wait_readable(void *sock, long ms)
{
	zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};

	return zmq_poll(&item, 1, ms) == 1;
}

/* What a worker got: [routing id][empty][tag][envelope]. */
static int worker_recv(void *worker, struct zframes *f)
{
	if (!wait_readable(worker, 2000) || zsock_recv(worker, f) != OK)
		return ERR;
	return f->count == 4 ? OK : ERR;
}

/* A worker's answer carrying the tag of request `of` (as received). */
static int worker_send(void *worker, const struct zframes *to, const struct zframes *of,
		       const char *body)
{
	zmq_msg_t *id = (zmq_msg_t *)&to->part[0], *tag = (zmq_msg_t *)&of->part[2];

	if (zmq_send(worker, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, "", 0, ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, zmq_msg_data(tag), zmq_msg_size(tag), ZMQ_SNDMORE) < 0 ||
	    zmq_send(worker, body, strlen(body), 0) < 0)
		return ERR;
	return OK;
}

/* The next reply on a backend socket: 1 with its slot (NULL: dropped). */
static int front_recv(struct tp_backends *b, void *sock, struct tp_pending **slot, char *body,
		      size_t max)
{
	const uint8_t *data;
	size_t len;

	if (!wait_readable(sock, 2000) || tp_backend_recv(b, sock, slot, &data, &len) != 1)
		return 0;
	body[0] = '\0';
	if (*slot != NULL)
		snprintf(body, max, "%.*s", (int)len, (const char *)data);
	return 1;
}

static void test_reply_on_the_socket_of_its_request(void)
{
	struct tp_backends *b = NULL;
	struct tp_pending *invoice, *quote, *slot;
	struct zframes at_intake, at_worker;
	void *intake = NULL, *worker = NULL;
	char body[32];
	int full;

	REQUIRE(zsock_bind_router(ctx, "inproc://tp-intake", &intake) == OK);
	REQUIRE(tp_backends_open(ctx, "inproc://tp-quotes", "inproc://tp-intake", 4, &b) == OK);
	worker = zmq_socket(ctx, ZMQ_ROUTER);
	REQUIRE(worker != NULL && zmq_connect(worker, "inproc://tp-quotes") == 0);

	invoice = tp_pending_new(b, CLAIMS__MESSAGE_TYPE__INVOICE_REQUEST, 5000, 1, 4, &full);
	quote = tp_pending_new(b, CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, 5000, 1, 4, &full);
	REQUIRE(invoice != NULL && quote != NULL);
	CHECK(tp_pending_send(b, invoice, (const uint8_t *)"invoice", 7) == OK);
	CHECK(tp_pending_send(b, quote, (const uint8_t *)"quote", 5) == OK);
	REQUIRE(worker_recv(intake, &at_intake) == OK);
	REQUIRE(worker_recv(worker, &at_worker) == OK);

	/* The quote worker answers with the invoice's tag: dropped, the
	 * invoice still waits. */
	CHECK(worker_send(worker, &at_worker, &at_intake, "forged") == OK);
	CHECK(front_recv(b, tp_backends_quote_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == NULL);
	CHECK(invoice->used);
	/* Each answer on its own socket reaches its request. */
	CHECK(worker_send(intake, &at_intake, &at_intake, "recorded") == OK);
	CHECK(front_recv(b, tp_backends_intake_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == invoice);
	CHECK_EQ_STR(body, "recorded");
	CHECK(worker_send(worker, &at_worker, &at_worker, "computed") == OK);
	CHECK(front_recv(b, tp_backends_quote_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == quote);
	CHECK_EQ_STR(body, "computed");
	/* And intake naming the quote's slot is dropped as well. */
	CHECK(worker_send(intake, &at_intake, &at_worker, "forged") == OK);
	CHECK(front_recv(b, tp_backends_intake_socket(b), &slot, body, sizeof(body)) == 1);
	CHECK(slot == NULL);

	zframes_close(&at_intake);
	zframes_close(&at_worker);
	tp_backends_close(b);
	zmq_close(worker);
	zmq_close(intake);
}

int main(void)
{
	ctx = zmq_ctx_new();
	RUN(test_reply_on_the_socket_of_its_request);
	zmq_ctx_term(ctx);
	return test_report();
}
