/*
 * NAME
 *	tpclient.c - a health professional's client of the tiers-payant
 *	front door
 */
#include "common/tpclient.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/tierspayant.pb-c.h"

struct tp_client {
	void *sock;
	void *monitor;
	int timeout_ms;
	char session[128];
};

static int set_why(char *why, size_t why_len, const char *fmt, const char *detail)
{
	snprintf(why, why_len, fmt, detail);
	return ERR;
}

static int key_from_env(const char *name, char *out, char *why, size_t why_len)
{
	const char *v = getenv(name);

	if (v == NULL || strlen(v) != TP_KEY_LEN - 1)
		return set_why(why, why_len, "%s must hold a 40-character Z85 CURVE key", name);
	memcpy(out, v, TP_KEY_LEN);
	return OK;
}

int tp_keys_from_env(struct tp_keys *keys, char *why, size_t why_len)
{
	if (key_from_env("CLAIMS_TP_SERVER_KEY", keys->server, why, why_len) != OK ||
	    key_from_env("CLAIMS_TP_PUBLIC_KEY", keys->public_key, why, why_len) != OK ||
	    key_from_env("CLAIMS_TP_SECRET_KEY", keys->secret, why, why_len) != OK)
		return ERR;
	return OK;
}

/* The monitor tells a refused key apart from a silent server. */
static int watch_handshakes(void *ctx, struct tp_client *c)
{
	static atomic_int serial;
	char endpoint[64];
	int zero = 0;

	snprintf(endpoint, sizeof(endpoint), "inproc://tpclient-monitor-%d",
		 atomic_fetch_add(&serial, 1));
	if (zmq_socket_monitor(c->sock, endpoint,
			       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
		return ERR;
	c->monitor = zmq_socket(ctx, ZMQ_PAIR);
	if (c->monitor == NULL ||
	    zmq_setsockopt(c->monitor, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_connect(c->monitor, endpoint) != 0)
		return ERR;
	return OK;
}

int tp_client_open(void *ctx, const char *endpoint, const struct tp_keys *keys, int timeout_ms,
		   struct tp_client **out)
{
	struct tp_client *c = xcalloc(1, sizeof(*c));
	int zero = 0;

	c->timeout_ms = timeout_ms;
	c->sock = zmq_socket(ctx, ZMQ_DEALER);
	if (c->sock == NULL || zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, keys->server, TP_KEY_LEN - 1) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, keys->public_key, TP_KEY_LEN - 1) != 0 ||
	    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, keys->secret, TP_KEY_LEN - 1) != 0 ||
	    watch_handshakes(ctx, c) != OK || zmq_connect(c->sock, endpoint) != 0) {
		log_error("tiers-payant client %s: %s", endpoint, zmq_strerror(zmq_errno()));
		tp_client_close(c);
		return ERR;
	}
	*out = c;
	return OK;
}

void tp_client_close(struct tp_client *c)
{
	if (c == NULL)
		return;
	if (c->sock != NULL) {
		if (zmq_socket_monitor(c->sock, NULL, 0) != 0)
			log_debug("zmq_socket_monitor off: %s", zmq_strerror(zmq_errno()));
		if (zmq_close(c->sock) != 0)
			log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	}
	if (c->monitor != NULL && zmq_close(c->monitor) != 0)
		log_warn("zmq_close: %s", zmq_strerror(zmq_errno()));
	free(c);
}

void *tp_client_socket(struct tp_client *c)
{
	return c->sock;
}

const char *tp_client_session(const struct tp_client *c)
{
	return c->session;
}

void tp_client_set_session(struct tp_client *c, const char *token)
{
	snprintf(c->session, sizeof(c->session), "%s", token ? token : "");
}

int tp_client_send(struct tp_client *c, Claims__MessageType type, const ProtobufCMessage *msg,
		   char request_id[UUID_STR_LEN])
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (envelope_pack(type, msg, NULL, "tpclient", request_id, &buf, &len) != OK)
		return ERR;
	rc = zmq_send(c->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
	     zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0;
	free(buf);
	if (rc) {
		log_error("tiers-payant send: %s", zmq_strerror(zmq_errno()));
		return ERR;
	}
	return OK;
}

/* A handshake failure reported by the monitor: ERR with why set. */
static int check_monitor(struct tp_client *c, char *why, size_t why_len)
{
	zmq_msg_t ev, addr;
	uint16_t event = 0;
	uint32_t value = 0;
	int failed = 0;

	for (;;) {
		zmq_msg_init(&ev);
		if (zmq_msg_recv(&ev, c->monitor, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&ev);
			break;
		}
		if (zmq_msg_size(&ev) >= 6) {
			memcpy(&event, zmq_msg_data(&ev), sizeof(event));
			memcpy(&value, (uint8_t *)zmq_msg_data(&ev) + 2, sizeof(value));
		}
		zmq_msg_init(&addr);
		if (zmq_msg_more(&ev) && zmq_msg_recv(&addr, c->monitor, 0) < 0)
			log_debug("monitor address frame: %s", zmq_strerror(zmq_errno()));
		zmq_msg_close(&addr);
		zmq_msg_close(&ev);
		failed = 1;
	}
	if (!failed)
		return OK;
	/* For an authentication failure the value is the ZAP status code. */
	if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && value == 400)
		snprintf(why, why_len,
			 "the server refused this key (unknown, revoked or no "
			 "tiers-payant agreement)");
	else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
		snprintf(why, why_len,
			 "the server could not check this key now (ZAP status %u); "
			 "retry later",
			 (unsigned)value);
	else
		snprintf(why, why_len, "the CURVE handshake failed (wrong server key?)");
	return ERR;
}

/* Reads the frames of one message; the envelope is the last one. */
static int read_message(struct tp_client *c, struct envelope *reply, char *why, size_t why_len)
{
	zmq_msg_t part;
	int more = 1, status = ERR;

	zmq_msg_init(&part);
	while (more) {
		zmq_msg_close(&part);
		zmq_msg_init(&part);
		if (zmq_msg_recv(&part, c->sock, 0) < 0) {
			zmq_msg_close(&part);
			return set_why(why, why_len, "receive: %s", zmq_strerror(zmq_errno()));
		}
		more = zmq_msg_more(&part);
	}
	status = envelope_unpack(zmq_msg_data(&part), zmq_msg_size(&part), reply, why, why_len);
	zmq_msg_close(&part);
	return status;
}

int tp_client_recv(struct tp_client *c, int timeout_ms, struct envelope *reply, char *why,
		   size_t why_len)
{
	int64_t deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;

	memset(reply, 0, sizeof(*reply));
	for (;;) {
		zmq_pollitem_t items[2] = {{c->sock, 0, ZMQ_POLLIN, 0},
					   {c->monitor, 0, ZMQ_POLLIN, 0}};
		int64_t left = (deadline - clock_mono_us()) / 1000;
		int rc = zmq_poll(items, 2, left > 0 ? (long)left : 0);

		if (rc < 0 && zmq_errno() != EINTR)
			return set_why(why, why_len, "poll: %s", zmq_strerror(zmq_errno()));
		if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
			return read_message(c, reply, why, why_len);
		if (rc > 0 && (items[1].revents & ZMQ_POLLIN) &&
		    check_monitor(c, why, why_len) != OK)
			return ERR;
		if (left <= 0)
			return set_why(why, why_len, "%s", "no reply in time");
	}
}

int tp_client_call(struct tp_client *c, Claims__MessageType type, const ProtobufCMessage *msg,
		   struct envelope *reply, char *why, size_t why_len)
{
	char request_id[UUID_STR_LEN], echoed[UUID_STR_LEN + 8];
	int64_t deadline;

	if (tp_client_send(c, type, msg, request_id) != OK)
		return set_why(why, why_len, "%s", "send failed");
	deadline = clock_mono_us() + (int64_t)c->timeout_ms * 1000;
	for (;;) {
		int64_t left = (deadline - clock_mono_us()) / 1000;

		if (tp_client_recv(c, left > 0 ? (int)left : 0, reply, why, why_len) != OK)
			return ERR;
		tp_reply_request_id(reply, echoed, sizeof(echoed));
		/* An error the server could not tie to a request id (bad
		 * frames, a bad envelope) answers the request in flight. */
		if (strcmp(echoed, request_id) == 0 ||
		    (echoed[0] == '\0' && reply->type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY))
			return OK;
		envelope_free(reply); /* a late reply to an earlier request */
	}
}

int tp_client_open_session(struct tp_client *c, const char *professional_id, char *why,
			   size_t why_len)
{
	Claims__SessionOpenRequest req = CLAIMS__SESSION_OPEN_REQUEST__INIT;
	Claims__SessionOpenReply *r;
	struct envelope reply;

	req.professional_id = (char *)professional_id;
	if (tp_client_call(c, CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REQUEST, &req.base, &reply, why,
			   why_len) != OK)
		return ERR;
	if (reply.type == CLAIMS__MESSAGE_TYPE__ERROR_REPLY) {
		Claims__ErrorReply *e =
			claims__error_reply__unpack(NULL, reply.payload_len, reply.payload);

		snprintf(why, why_len, "session refused: %s: %s", e && e->code ? e->code : "?",
			 e && e->message ? e->message : "");
		claims__error_reply__free_unpacked(e, NULL);
		envelope_free(&reply);
		return ERR;
	}
	r = claims__session_open_reply__unpack(NULL, reply.payload_len, reply.payload);
	if (reply.type != CLAIMS__MESSAGE_TYPE__SESSION_OPEN_REPLY || r == NULL ||
	    r->session_token == NULL) {
		claims__session_open_reply__free_unpacked(r, NULL);
		envelope_free(&reply);
		return set_why(why, why_len, "%s", "unexpected reply to SESSION_OPEN");
	}
	tp_client_set_session(c, r->session_token);
	claims__session_open_reply__free_unpacked(r, NULL);
	envelope_free(&reply);
	return OK;
}

/* Field 1 (request_id, a string) of the reply payload, read at the wire
 * level: every reply message of tierspayant.proto has it as field 1. */
void tp_reply_request_id(const struct envelope *reply, char *out, size_t len)
{
	const uint8_t *p = reply->payload, *end = p + reply->payload_len;

	out[0] = '\0';
	while (p != NULL && p < end) {
		uint64_t tag = 0, n = 0;
		int shift = 0;

		while (p < end && shift < 64) {
			tag |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
			if (!(*p++ & 0x80))
				break;
		}
		if ((tag & 7) == 0) { /* varint */
			while (p < end && (*p++ & 0x80))
				;
			continue;
		}
		if ((tag & 7) == 1 || (tag & 7) == 5) {
			p += (tag & 7) == 1 ? 8 : 4;
			continue;
		}
		if ((tag & 7) != 2)
			return;
		shift = 0;
		while (p < end && shift < 64) {
			n |= (uint64_t)(*p & 0x7f) << shift;
			shift += 7;
			if (!(*p++ & 0x80))
				break;
		}
		if (n > (uint64_t)(end - p))
			return;
		/* The last occurrence wins, as for any non-repeated field. */
		if ((tag >> 3) == 1)
			snprintf(out, len, "%.*s", (int)n, (const char *)p);
		p += n;
	}
}
