/*
 * NAME
 *	zsock.c - ZeroMQ sockets the way the daemons use them
 */
#include "common/zsock.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "common/envelope.h"
#include "common/log.h"

/* A ROUTER that no client can hurt: size limit, no queueing for gone
 * peers, no linger. Not bound yet: security options come first. */
static int router_new(void *ctx, int64_t max_size, void **out)
{
	void *s = zmq_socket(ctx, ZMQ_ROUTER);
	int zero = 0, one = 1;

	if (s == NULL || zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_size, sizeof(max_size)) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) != 0) {
		log_error("zmq router options: %s", zmq_strerror(zmq_errno()));
		if (s != NULL)
			zmq_close(s);
		return ERR;
	}
	*out = s;
	return OK;
}

static int bind_or_close(void *s, const char *endpoint, void **out)
{
	if (zmq_bind(s, endpoint) != 0) {
		log_error("zmq bind %s: %s", endpoint, zmq_strerror(zmq_errno()));
		zmq_close(s);
		return ERR;
	}
	*out = s;
	return OK;
}

int zsock_bind_router(void *ctx, const char *endpoint, void **out)
{
	void *s;

	if (router_new(ctx, ENVELOPE_MAX_BYTES, &s) != OK)
		return ERR;
	return bind_or_close(s, endpoint, out);
}

int zsock_bind_curve_router(void *ctx, const char *endpoint, const char *secret_z85,
			    const char *zap_domain, int64_t max_bytes, void **out)
{
	int one = 1;
	void *s;

	if (router_new(ctx, max_bytes, &s) != OK)
		return ERR;
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof(one)) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret_z85, strlen(secret_z85)) != 0 ||
	    zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, zap_domain, strlen(zap_domain)) != 0) {
		log_error("zmq CURVE server options: %s", zmq_strerror(zmq_errno()));
		zmq_close(s);
		return ERR;
	}
	return bind_or_close(s, endpoint, out);
}

int zsock_connect_req(void *ctx, const char *endpoint, int timeout_ms, void **out)
{
	void *s = zmq_socket(ctx, ZMQ_REQ);
	int zero = 0;

	if (s == NULL || zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)) != 0 ||
	    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms)) != 0 ||
	    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_connect(s, endpoint) != 0) {
		log_error("zmq req %s: %s", endpoint, zmq_strerror(zmq_errno()));
		if (s != NULL)
			zmq_close(s);
		return ERR;
	}
	*out = s;
	return OK;
}

int zsock_heartbeat(void *sock)
{
	int ivl = ZSOCK_HEARTBEAT_IVL_MS, timeout = ZSOCK_HEARTBEAT_TIMEOUT_MS;

	/* The TTL asks the peer to give up on us after as long. */
	if (zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout)) != 0 ||
	    zmq_setsockopt(sock, ZMQ_HEARTBEAT_TTL, &timeout, sizeof(timeout)) != 0) {
		log_error("zmq heartbeat options: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	return OK;
}

int zsock_recv(void *sock, struct zframes *f)
{
	int more = 1;

	f->count = 0;
	f->truncated = 0;
	while (more) {
		zmq_msg_t extra, *dst = f->count < ZFRAMES_MAX ? &f->part[f->count] : &extra;

		zmq_msg_init(dst);
		if (zmq_msg_recv(dst, sock, ZMQ_DONTWAIT) < 0) {
			int err = zmq_errno();

			zmq_msg_close(dst);
			zframes_close(f);
			if (err != EAGAIN)
				log_error("zmq recv: %s", zmq_strerror(err));
			errno = err;
			return ERR;
		}
		more = zmq_msg_more(dst);
		if (dst == &extra) {
			zmq_msg_close(&extra);
			f->truncated = 1;
		} else {
			f->count++;
		}
	}
	return OK;
}

void zframes_close(struct zframes *f)
{
	for (int i = 0; i < f->count; i++)
		zmq_msg_close(&f->part[i]);
	f->count = 0;
}

const void *zframes_body(const struct zframes *f, size_t *len)
{
	if (f->count < 2) {
		*len = 0;
		return NULL;
	}
	*len = zmq_msg_size((zmq_msg_t *)&f->part[f->count - 1]);
	return zmq_msg_data((zmq_msg_t *)&f->part[f->count - 1]);
}

int zsock_reply(void *sock, const struct zframes *request, const void *body, size_t len)
{
	int routing = request->count > 1 ? request->count - 1 : request->count;

	for (int i = 0; i < routing; i++) {
		zmq_msg_t *part = (zmq_msg_t *)&request->part[i];

		if (zmq_send(sock, zmq_msg_data(part), zmq_msg_size(part), ZMQ_SNDMORE) < 0)
			goto fail;
	}
	if (zmq_send(sock, body, len, 0) < 0)
		goto fail;
	return OK;
fail:
	log_warn("zmq reply not delivered: %s", zmq_strerror(zmq_errno()));
	return ERR;
}
