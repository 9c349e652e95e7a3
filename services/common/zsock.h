/*
 * NAME
 *	zsock.h - ZeroMQ sockets the way the daemons use them
 *
 * SYNOPSIS
 *	void *router;
 *	zsock_bind_router(ctx, "tcp://127.0.0.1:5701", &router);
 *	struct zframes req;
 *	if (zsock_recv(router, &req) == OK) {
 *		... zframes_body(&req) is the envelope ...
 *		zsock_reply(router, &req, reply, reply_len);
 *		zframes_close(&req);
 *	}
 *
 * DESCRIPTION
 *	A request/reply front door is a ROUTER socket: messages arrive as
 *	[identity][empty delimiter, from REQ peers][body] and the reply goes
 *	back with the same routing frames. The socket is set up so that a
 *	client's mistakes cost the daemon little: frames larger than
 *	ENVELOPE_MAX_BYTES make libzmq drop the peer (ZMQ_MAXMSGSIZE), a
 *	reply to a peer that has gone is dropped rather than queued
 *	(ZMQ_ROUTER_MANDATORY with a zero send timeout), and closing never
 *	waits (ZMQ_LINGER 0). What libzmq cannot bound: a peer sending
 *	frames of one message that never ends ("more" set each time) grows
 *	libzmq's buffer of that message without limit (the high-water mark
 *	counts whole messages), so the daemons run under a memory limit
 *	(deploy/) that turns it into a restart, not a host out of memory.
 *
 *	zsock_recv() never blocks: poll first. A message of more than
 *	ZFRAMES_MAX frames is read whole and flagged, its extra frames
 *	dropped, so the next read starts on a message boundary.
 *
 * DIAGNOSTICS
 *	OK or ERR; zsock_recv() returns ERR with errno EAGAIN when nothing
 *	is waiting (not logged), other failures are logged with zmq_strerror.
 */
#ifndef COMMON_ZSOCK_H
#define COMMON_ZSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "common/status.h"

#define ZFRAMES_MAX 4

struct zframes {
	zmq_msg_t part[ZFRAMES_MAX];
	int count;     /* frames kept */
	int truncated; /* the message had more than ZFRAMES_MAX frames */
};

int zsock_bind_router(void *ctx, const char *endpoint, void **out) MUST_CHECK;
/* The same, secured with CURVE: secret_z85 is the server's secret key
 * (40 Z85 characters); every handshake is put to the ZAP handler of the
 * context (inproc://zeromq.zap.01), which must be bound already. */
int zsock_bind_curve_router(void *ctx, const char *endpoint, const char *secret_z85,
			    const char *zap_domain, int64_t max_bytes, void **out) MUST_CHECK;
int zsock_connect_req(void *ctx, const char *endpoint, int timeout_ms, void **out) MUST_CHECK;

/* ZMTP heartbeats on a socket between daemons: a PING every
 * ZSOCK_HEARTBEAT_IVL_MS, and a peer silent for ZSOCK_HEARTBEAT_TIMEOUT_MS
 * (a stopped process, a host gone) is disconnected, so that a DEALER
 * stops dealing it requests it will never answer. Before connect/bind. */
#define ZSOCK_HEARTBEAT_IVL_MS	   1000
#define ZSOCK_HEARTBEAT_TIMEOUT_MS 3000
int zsock_heartbeat(void *sock) MUST_CHECK;
int zsock_recv(void *sock, struct zframes *f) MUST_CHECK;
void zframes_close(struct zframes *f);
/* The last frame, or NULL/0 for a message of routing frames only. */
const void *zframes_body(const struct zframes *f, size_t *len);
/* Send body back along the routing frames of the request (all but its last). */
int zsock_reply(void *sock, const struct zframes *request, const void *body, size_t len) MUST_CHECK;

#endif
