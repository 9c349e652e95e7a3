/*
 * NAME
 *	test_zsock.c - the ZeroMQ front-door helpers, over loopback TCP
 *
 * DESCRIPTION
 *	A REQ client and a DEALER client talk to a ROUTER made by
 *	zsock_bind_router(): bodies arrive whole with their routing frames
 *	and replies find their way back; a message with too many frames is
 *	flagged; a message over the size limit is refused by libzmq (the
 *	peer is dropped) and the socket goes on serving others.
 */
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/zsock.h"
#include "test.h"

static void *ctx, *router;
static char endpoint[64];

static int wait_readable(void *sock, long ms)
{
	zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};

	return zmq_poll(&item, 1, ms) == 1;
}

static void setup(void)
{
	size_t len = sizeof(endpoint);

	ctx = zmq_ctx_new();
	if (zsock_bind_router(ctx, "tcp://127.0.0.1:*", &router) != OK ||
	    zmq_getsockopt(router, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
		abort();
}

static void test_req_round_trip(void)
{
	struct zframes request;
	const void *body;
	size_t len;
	void *req;
	char reply[16] = "";

	REQUIRE(zsock_connect_req(ctx, endpoint, 2000, &req) == OK);
	REQUIRE(zmq_send(req, "hello", 5, 0) == 5);
	REQUIRE(wait_readable(router, 2000));
	REQUIRE(zsock_recv(router, &request) == OK);
	CHECK_EQ_I64(request.count, 3); /* identity, empty delimiter, body */
	CHECK(!request.truncated);
	body = zframes_body(&request, &len);
	CHECK(len == 5 && memcmp(body, "hello", 5) == 0);
	CHECK(zsock_reply(router, &request, "world", 5) == OK);
	zframes_close(&request);
	CHECK_EQ_I64(zmq_recv(req, reply, sizeof(reply) - 1, 0), 5);
	CHECK_EQ_STR(reply, "world");
	zmq_close(req);
}

static void test_nothing_waiting(void)
{
	struct zframes request;

	CHECK(zsock_recv(router, &request) == ERR);
	CHECK_EQ_I64(request.count, 0);
}

static void test_too_many_frames_flagged(void)
{
	void *dealer = zmq_socket(ctx, ZMQ_DEALER);
	struct zframes request;
	int zero = 0;

	REQUIRE(dealer != NULL);
	zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof(zero));
	REQUIRE(zmq_connect(dealer, endpoint) == 0);
	for (int i = 0; i < 6; i++)
		REQUIRE(zmq_send(dealer, "x", 1, i < 5 ? ZMQ_SNDMORE : 0) == 1);
	REQUIRE(wait_readable(router, 2000));
	REQUIRE(zsock_recv(router, &request) == OK);
	CHECK(request.truncated);
	CHECK_EQ_I64(request.count, ZFRAMES_MAX);
	zframes_close(&request);
	/* the next read starts on a message boundary */
	CHECK(zsock_recv(router, &request) == ERR);
	zmq_close(dealer);
}

static void test_oversized_refused_others_served(void)
{
	size_t big = ENVELOPE_MAX_BYTES + 1024;
	char *payload = calloc(1, big);
	struct zframes request;
	const void *body;
	size_t len;
	char reply[16] = "";
	void *greedy, *polite;

	REQUIRE(payload != NULL);
	REQUIRE(zsock_connect_req(ctx, endpoint, 2000, &greedy) == OK);
	REQUIRE(zmq_send(greedy, payload, big, 0) == (int)big);
	CHECK(!wait_readable(router, 300)); /* dropped by libzmq, never delivered */
	REQUIRE(zsock_connect_req(ctx, endpoint, 2000, &polite) == OK);
	REQUIRE(zmq_send(polite, "polite", 6, 0) == 6);
	REQUIRE(wait_readable(router, 2000));
	REQUIRE(zsock_recv(router, &request) == OK);
	/* The polite request itself: the big one arriving late would be
	 * read here instead. */
	CHECK(!request.truncated);
	body = zframes_body(&request, &len);
	CHECK(len == 6 && memcmp(body, "polite", 6) == 0);
	CHECK(zsock_reply(router, &request, "served", 6) == OK);
	zframes_close(&request);
	CHECK_EQ_I64(zmq_recv(polite, reply, sizeof(reply) - 1, 0), 6);
	CHECK_EQ_STR(reply, "served");
	/* Nor later: the big one is never delivered. */
	CHECK(!wait_readable(router, 300));
	zmq_close(greedy);
	zmq_close(polite);
	free(payload);
}

static void test_reply_to_gone_peer_does_not_block(void)
{
	struct zframes request;
	void *req;

	REQUIRE(zsock_connect_req(ctx, endpoint, 2000, &req) == OK);
	REQUIRE(zmq_send(req, "bye", 3, 0) == 3);
	REQUIRE(wait_readable(router, 2000));
	REQUIRE(zsock_recv(router, &request) == OK);
	zmq_close(req);
	zmq_sleep(1);
	/* ROUTER_MANDATORY + zero send timeout: an error, at once, not a hang */
	CHECK(zsock_reply(router, &request, "late", 4) == ERR);
	zframes_close(&request);
}

int main(void)
{
	setup();
	RUN(test_req_round_trip);
	RUN(test_nothing_waiting);
	RUN(test_too_many_frames_flagged);
	RUN(test_oversized_refused_others_served);
	RUN(test_reply_to_gone_peer_does_not_block);
	zmq_close(router);
	zmq_ctx_term(ctx);
	return test_report();
}
