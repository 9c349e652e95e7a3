/*
 * NAME
 *	tpclient.h - a health professional's client of the tiers-payant
 *	front door (ZeroMQ DEALER, CURVE)
 *
 * SYNOPSIS
 *	struct tp_keys keys;
 *	tp_keys_from_env(&keys);
 *	struct tp_client *c;
 *	tp_client_open(ctx, "tcp://127.0.0.1:5702", &keys, 2000, &c);
 *	tp_client_open_session(c, NULL, why, sizeof(why));
 *	struct envelope reply;
 *	tp_client_call(c, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, &req.base,
 *		       &reply, why, sizeof(why));
 *
 * DESCRIPTION
 *	The reference client of docs/tiers-payant.md, used by `claimctl tp`,
 *	the tests and the benchmark. A request is one frame (an empty
 *	delimiter, then the Envelope, as a REQ socket would send it); the
 *	reply's request_id names the request it answers.
 *
 *	A key the server refuses makes the CURVE handshake fail: libzmq
 *	then retries silently. The client watches the socket's monitor and
 *	reports the refusal instead of waiting for a reply that cannot come.
 *
 * DIAGNOSTICS
 *	OK or ERR; why says what went wrong (timeout, refused key, bad
 *	reply). An ErrorReply from the server is a reply: OK.
 */
#ifndef COMMON_TPCLIENT_H
#define COMMON_TPCLIENT_H

#include <protobuf-c/protobuf-c.h>

#include "common/envelope.h"
#include "common/status.h"

#define TP_KEY_LEN 41 /* 40 Z85 characters and the NUL */

struct tp_keys {
	char server[TP_KEY_LEN];     /* the front door's public key */
	char public_key[TP_KEY_LEN]; /* ours */
	char secret[TP_KEY_LEN];     /* ours */
};

/* CLAIMS_TP_SERVER_KEY, CLAIMS_TP_PUBLIC_KEY, CLAIMS_TP_SECRET_KEY. */
int tp_keys_from_env(struct tp_keys *keys, char *why, size_t why_len) MUST_CHECK;

struct tp_client;

int tp_client_open(void *ctx, const char *endpoint, const struct tp_keys *keys, int timeout_ms,
		   struct tp_client **out) MUST_CHECK;
void tp_client_close(struct tp_client *c);
void *tp_client_socket(struct tp_client *c);
const char *tp_client_session(const struct tp_client *c);
void tp_client_set_session(struct tp_client *c, const char *token);

/* Send one request; request_id receives its id (the envelope's message id). */
int tp_client_send(struct tp_client *c, Claims__MessageType type, const ProtobufCMessage *msg,
		   char request_id[UUID_STR_LEN]) MUST_CHECK;
/* The next reply, waiting up to timeout_ms. */
int tp_client_recv(struct tp_client *c, int timeout_ms, struct envelope *reply, char *why,
		   size_t why_len) MUST_CHECK;
/* Send, then wait for the reply to this request (others are dropped). */
int tp_client_call(struct tp_client *c, Claims__MessageType type, const ProtobufCMessage *msg,
		   struct envelope *reply, char *why, size_t why_len) MUST_CHECK;
/* SESSION_OPEN; the token is kept and used by the callers of
 * tp_client_session(). professional_id may be NULL. */
int tp_client_open_session(struct tp_client *c, const char *professional_id, char *why,
			   size_t why_len) MUST_CHECK;

/* The request id inside any reply payload (they all have it as field 1),
 * or "" for a reply that does not decode. */
void tp_reply_request_id(const struct envelope *reply, char *out, size_t len);

#endif
