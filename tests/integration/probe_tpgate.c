/*
 * NAME
 *	probe_tpgate.c - hostile clients of the tiers-payant front door
 *
 * SYNOPSIS
 *	probe_tpgate    (run by test_tiers_payant.sh with the daemons up)
 *
 * DESCRIPTION
 *	Everything a professional's software may get wrong, or an attacker
 *	may try, against a running front door: unknown and revoked keys,
 *	frames that are not one envelope, bytes that are not an envelope,
 *	a REQ socket's request of two frames (answered, not left waiting),
 *	wrong types, undecodable payloads and one of thousands of empty
 *	lines (too large decoded), stale and replayed requests,
 *	missing and expired sessions, an oversized message, a burst past
 *	the rate limit. Each must end in a clear ErrorReply or a refused
 *	connection; and meanwhile another professional is still served.
 *
 *	Environment: CLAIMS_TP_ENDPOINT, CLAIMS_TP_SERVER_KEY; PROBE_KEYS_A,
 *	PROBE_KEYS_B, PROBE_KEYS_REVOKED, PROBE_KEYS_ROTATED ("PUBLIC
 *	SECRET"); PROBE_ROTATE (a command registering another key for the
 *	professional of PROBE_KEYS_ROTATED); PROBE_MEMBER (a
 *	covered membership number); PROBE_SESSION_TTL and PROBE_RATE_LIMIT
 *	(the front door's settings).
 *
 *	Prints "ok NAME" / "not ok NAME: why" per check and ends with
 *	"N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/envelope.h"
#include "common/tpclient.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/tierspayant.pb-c.h"

static int passed, failed;
static void *ctx;
static const char *endpoint, *member;

static void verdict(const char *name, int ok, const char *why)
{
	if (ok) {
		passed++;
		printf("ok %s\n", name);
	} else {
		failed++;
		printf("not ok %s: %s\n", name, why);
	}
	fflush(stdout);
}

static int keys_of(const char *var, struct tp_keys *k)
{
	const char *v = getenv(var), *server = getenv("CLAIMS_TP_SERVER_KEY");

	if (v == NULL || server == NULL || strlen(v) != 81 || strlen(server) != 40)
		return ERR;
	memcpy(k->public_key, v, 40);
	k->public_key[40] = '\0';
	memcpy(k->secret, v + 41, 40);
	k->secret[40] = '\0';
	memcpy(k->server, server, 41);
	return OK;
}

static struct tp_client *client(const char *var)
{
	struct tp_keys k;
	struct tp_client *c;

	if (keys_of(var, &k) != OK || tp_client_open(ctx, endpoint, &k, 3000, &c) != OK)
		return NULL;
	return c;
}

/* The ErrorReply code of a reply, "" for any other reply. */
static void code_of(const struct envelope *reply, char *out, size_t len)
{
	Claims__ErrorReply *e;

	out[0] = '\0';
	if (reply->type != CLAIMS__MESSAGE_TYPE__ERROR_REPLY)
		return;
	e = claims__error_reply__unpack(NULL, reply->payload_len, reply->payload);
	snprintf(out, len, "%s", e && e->code ? e->code : "?");
	claims__error_reply__free_unpacked(e, NULL);
}

static void eligibility_of(Claims__EligibilityRequest *r, Claims__BeneficiaryRef *b,
			   const char *token)
{
	claims__eligibility_request__init(r);
	claims__beneficiary_ref__init(b);
	b->membership_number = (char *)member;
	r->beneficiary = b;
	r->session_token = (char *)token;
}

/* An envelope with every field chosen by the caller. */
static uint8_t *envelope_raw(Claims__MessageType type, const char *id, int64_t created_at_us,
			     const uint8_t *payload, size_t payload_len, size_t *len)
{
	Claims__Envelope e = CLAIMS__ENVELOPE__INIT;
	uint8_t *buf;

	e.has_type = e.has_created_at_us = e.has_schema_version = e.has_payload = 1;
	e.type = type;
	e.message_id = (char *)id;
	e.created_at_us = created_at_us;
	e.schema_version = 1;
	e.payload.data = (uint8_t *)payload;
	e.payload.len = payload_len;
	*len = claims__envelope__get_packed_size(&e);
	buf = xmalloc(*len);
	claims__envelope__pack(&e, buf);
	return buf;
}

static uint8_t *eligibility_envelope(const char *id, int64_t created_at_us, const char *token,
				     size_t *len)
{
	Claims__EligibilityRequest r;
	Claims__BeneficiaryRef b;
	uint8_t payload[512], *out;
	size_t n;

	eligibility_of(&r, &b, token);
	n = claims__eligibility_request__pack(&r, payload);
	out = envelope_raw(CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, id, created_at_us, payload, n,
			   len);
	return out;
}

static int send_frames(struct tp_client *c, const void *a, size_t alen, const void *b, size_t blen)
{
	void *s = tp_client_socket(c);

	if (zmq_send(s, "", 0, ZMQ_SNDMORE) < 0)
		return ERR;
	if (b != NULL && zmq_send(s, a, alen, ZMQ_SNDMORE) < 0)
		return ERR;
	return zmq_send(s, b != NULL ? b : a, b != NULL ? blen : alen, 0) < 0 ? ERR : OK;
}

/* Send raw frames, expect an ErrorReply with this code. */
static void expect_code(const char *name, struct tp_client *c, const void *a, size_t alen,
			const void *b, size_t blen, const char *want)
{
	struct envelope reply;
	char why[256], code[64];

	if (send_frames(c, a, alen, b, blen) != OK) {
		verdict(name, 0, "send failed");
		return;
	}
	if (tp_client_recv(c, 3000, &reply, why, sizeof(why)) != OK) {
		verdict(name, 0, why);
		return;
	}
	code_of(&reply, code, sizeof(code));
	snprintf(why, sizeof(why), "got \"%s\", want %s", code, want);
	verdict(name, strcmp(code, want) == 0, why);
	envelope_free(&reply);
}

/* An ELIGIBILITY through the client library: "" when answered, else the code. */
static void ask(struct tp_client *c, char *code, size_t len)
{
	Claims__EligibilityRequest r;
	Claims__BeneficiaryRef b;
	struct envelope reply;
	char why[256];

	eligibility_of(&r, &b, tp_client_session(c));
	if (tp_client_call(c, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, &r.base, &reply, why,
			   sizeof(why)) != OK) {
		snprintf(code, len, "transport: %.100s", why);
		return;
	}
	code_of(&reply, code, len);
	if (code[0] == '\0' && reply.type != CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REPLY)
		snprintf(code, len, "unexpected %s", envelope_type_name(reply.type));
	envelope_free(&reply);
}

/* What tpclient says when the front door's ZAP handler refuses the key
 * (status 400, check_monitor() in tpclient.c): not "session refused:
 * CODE: ...", an ErrorReply to a connection that was let in, nor "could
 * not check this key now", a ZAP handler that failed (500). */
#define KEY_REFUSED "the server refused this key (unknown, revoked or no tiers-payant agreement)"

/* One attempt with the key of var, on a new connection (libzmq does not
 * try again a handshake the server refused): 1 when refused at the
 * handshake; why says what happened. */
static int handshake_refused(const char *var, char *why, size_t why_len)
{
	struct tp_client *c = client(var);
	int refused;

	if (c == NULL) {
		snprintf(why, why_len, "client not opened (keys?)");
		return 0;
	}
	why[0] = '\0';
	if (tp_client_open_session(c, NULL, why, why_len) == OK)
		snprintf(why, why_len, "a session was opened");
	refused = strcmp(why, KEY_REFUSED) == 0;
	tp_client_close(c);
	return refused;
}

/* A key refused at the handshake. With again, a second attempt with the
 * same key after the first was refused, 2 s later: within the 10 s a
 * refusal is remembered, and past the front door's one log line a
 * second, so that a refusal not remembered would be logged again, which
 * test_tiers_payant.sh counts ("an unknown key retrying is logged
 * once"); this side sees a refusal either way. */
static void refused_key(const char *name, const char *again, const char *var)
{
	char why[256], why_again[256];
	int refused = handshake_refused(var, why, sizeof(why));

	verdict(name, refused, why);
	if (again == NULL)
		return;
	if (!refused) {
		verdict(again, 0, "the first attempt was not refused at the handshake");
		return;
	}
	sleep(2);
	verdict(again, handshake_refused(var, why_again, sizeof(why_again)), why_again);
}

static void malformed(struct tp_client *c)
{
	const char garbage[] = "\x0a\xff\xff\xff\xff\xff not protobuf";
	const uint8_t bad_payload[] = {0xff, 0xff, 0xff};
	char id[UUID_STR_LEN];
	uint8_t *env, *lines;
	size_t len, n_lines = 32000;

	expect_code("malformed: three frames", c, "a", 1, "b", 1, "BAD_FRAME");
	expect_code("malformed: bytes that are not an envelope", c, garbage, sizeof(garbage) - 1,
		    NULL, 0, "BAD_ENVELOPE");
	uuid_v7(id);
	env = envelope_raw(CLAIMS__MESSAGE_TYPE__CLAIM_SUBMITTED, id, clock_now_us(), bad_payload,
			   0, &len);
	expect_code("malformed: not a tiers-payant type", c, env, len, NULL, 0, "WRONG_TYPE");
	free(env);
	uuid_v7(id);
	env = envelope_raw(CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, id, clock_now_us(),
			   bad_payload, sizeof(bad_payload), &len);
	expect_code("malformed: payload that does not decode", c, env, len, NULL, 0, "BAD_PAYLOAD");
	free(env);
	/* 32,000 empty lines, 2 bytes each: a frame within the size limit,
	 * 32,000 ClaimLines decoded, past a request's memory budget. */
	lines = xmalloc(2 * n_lines);
	for (size_t i = 0; i < n_lines; i++) {
		lines[2 * i] = 3 << 3 | 2; /* QuoteRequest.lines, length-delimited */
		lines[2 * i + 1] = 0;
	}
	uuid_v7(id);
	env = envelope_raw(CLAIMS__MESSAGE_TYPE__QUOTE_REQUEST, id, clock_now_us(), lines,
			   2 * n_lines, &len);
	expect_code("malformed: thousands of empty lines, too large decoded", c, env, len, NULL, 0,
		    "BAD_PAYLOAD");
	free(env);
	free(lines);
	env = envelope_raw(CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, NULL, clock_now_us(),
			   bad_payload, 0, &len);
	expect_code("malformed: no request id", c, env, len, NULL, 0, "BAD_ENVELOPE");
	free(env);
	env = envelope_raw(
		CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST,
		"a-request-id-far-longer-than-the-sixty-four-characters-a-request-id-may-have",
		clock_now_us(), bad_payload, 0, &len);
	expect_code("malformed: request id that is not a UUID", c, env, len, NULL, 0,
		    "BAD_ENVELOPE");
	free(env);
}

/* A REQ socket (the other client the protocol allows) sending a request
 * of two frames: REQ adds the delimiter, the front door gets [id, "", a,
 * b] and refuses it. Its reply must carry the delimiter back, or REQ
 * drops it and the client waits for ever. */
static void req_two_frames(void)
{
	const char *name = "malformed: two frames from a REQ socket answered";
	int zero = 0, timeout_ms = 3000;
	struct envelope reply;
	struct tp_keys k;
	char why[256], code[64];
	zmq_msg_t msg;
	void *s;

	if (keys_of("PROBE_KEYS_A", &k) != OK || (s = zmq_socket(ctx, ZMQ_REQ)) == NULL) {
		verdict(name, 0, "no keys or no socket");
		return;
	}
	if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, k.server, TP_KEY_LEN - 1) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, k.public_key, TP_KEY_LEN - 1) != 0 ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, k.secret, TP_KEY_LEN - 1) != 0 ||
	    zmq_connect(s, endpoint) != 0 || zmq_send(s, "a", 1, ZMQ_SNDMORE) < 0 ||
	    zmq_send(s, "b", 1, 0) < 0) {
		verdict(name, 0, zmq_strerror(zmq_errno()));
		zmq_close(s);
		return;
	}
	zmq_msg_init(&msg);
	if (zmq_msg_recv(&msg, s, 0) < 0) {
		snprintf(why, sizeof(why), "no reply within %d ms: %s", timeout_ms,
			 zmq_strerror(zmq_errno()));
		verdict(name, 0, why);
	} else if (envelope_unpack(zmq_msg_data(&msg), zmq_msg_size(&msg), &reply, why,
				   sizeof(why)) != OK) {
		verdict(name, 0, why);
	} else {
		code_of(&reply, code, sizeof(code));
		snprintf(why, sizeof(why), "got \"%s\", want BAD_FRAME", code);
		verdict(name, strcmp(code, "BAD_FRAME") == 0, why);
		envelope_free(&reply);
	}
	zmq_msg_close(&msg);
	zmq_close(s);
}

static void replay_and_staleness(struct tp_client *c)
{
	char id[UUID_STR_LEN];
	uint8_t *env;
	size_t len;

	uuid_v7(id);
	env = eligibility_envelope(id, clock_now_us(), tp_client_session(c), &len);
	expect_code("replay: first use answered", c, env, len, NULL, 0, "");
	expect_code("replay: same request id refused", c, env, len, NULL, 0, "REPLAYED_REQUEST");
	free(env);
	uuid_v7(id);
	env = eligibility_envelope(id, clock_now_us() - 3600LL * 1000000, tp_client_session(c),
				   &len);
	expect_code("replay: request created an hour ago", c, env, len, NULL, 0, "STALE_REQUEST");
	free(env);
	uuid_v7(id);
	env = eligibility_envelope(id, clock_now_us(), "0123456789abcdef", &len);
	expect_code("session: unknown token", c, env, len, NULL, 0, "NO_SESSION");
	free(env);
}

static void session_expiry(struct tp_client *c)
{
	long ttl = atol(getenv("PROBE_SESSION_TTL") ? getenv("PROBE_SESSION_TTL") : "4");
	char code[128];

	sleep((unsigned)ttl + 1);
	ask(c, code, sizeof(code));
	snprintf(code + strlen(code), sizeof(code) - strlen(code), " (want NO_SESSION)");
	verdict("session: expired after its TTL", strncmp(code, "NO_SESSION", 10) == 0, code);
}

/* A connection opened with a key the professional has replaced since
 * (PROBE_ROTATE registers another): it opens no new session, and the
 * one it had is ended. */
static void key_replaced(void)
{
	struct tp_client *c = client("PROBE_KEYS_ROTATED");
	const char *rotate = getenv("PROBE_ROTATE");
	char why[256] = "", code[128];

	if (c == NULL || rotate == NULL ||
	    tp_client_open_session(c, NULL, why, sizeof(why)) != OK) {
		verdict("keys: replaced key (setup)", 0, why[0] ? why : "keys or command missing");
		if (c != NULL)
			tp_client_close(c);
		return;
	}
	if (system(rotate) != 0) {
		verdict("keys: replaced key (setup)", 0,
			"the command registering a new key failed");
		tp_client_close(c);
		return;
	}
	ask(c, code, sizeof(code));
	verdict("keys: replaced key, its session ended", strncmp(code, "NO_SESSION", 10) == 0,
		code);
	why[0] = '\0';
	verdict("keys: replaced key, no new session on the connection it opened",
		tp_client_open_session(c, NULL, why, sizeof(why)) != OK &&
			strstr(why, "NOT_AUTHORISED") != NULL,
		why[0] ? why : "a session was opened");
	tp_client_close(c);
}

/* A message past the size limit: libzmq drops the connection. */
static void oversized(void)
{
	struct tp_client *c = client("PROBE_KEYS_A"), *again;
	size_t big = 2u << 20;
	char *blob = xcalloc(1, big), why[256], code[128];
	struct envelope reply;

	if (c == NULL || tp_client_open_session(c, NULL, why, sizeof(why)) != OK) {
		verdict("oversized: setup", 0, "no session");
		free(blob);
		tp_client_close(c);
		return;
	}
	verdict("oversized: 2 MiB message gets no answer",
		send_frames(c, blob, big, NULL, 0) == OK &&
			tp_client_recv(c, 1000, &reply, why, sizeof(why)) != OK,
		"an answer came");
	free(blob);
	tp_client_close(c);
	again = client("PROBE_KEYS_A");
	code[0] = 'x';
	if (again != NULL && tp_client_open_session(again, NULL, why, sizeof(why)) == OK)
		ask(again, code, sizeof(code));
	verdict("oversized: the professional reconnects and is served", code[0] == '\0', code);
	tp_client_close(again);
}

/* B asks once (a new session first: B's may have expired while A was
 * being tested); code "" when served. */
static void served_meanwhile(struct tp_client *b, char *code, size_t len)
{
	char why[256];

	if (tp_client_open_session(b, NULL, why, sizeof(why)) != OK)
		snprintf(code, len, "B: %.100s", why);
	else
		ask(b, code, len);
}

/* After each hostile test of A's (or of keys nobody has): B, another
 * professional, is still served. */
static void other_still_served(struct tp_client *b, const char *after)
{
	char name[160], code[128];

	served_meanwhile(b, code, sizeof(code));
	snprintf(name, sizeof(name), "another professional still served after %s", after);
	verdict(name, code[0] == '\0', code);
}

/* A burst past the limit: every request answered, some RATE_LIMITED;
 * another professional served during it. */
static void rate_limit(struct tp_client *a, struct tp_client *b)
{
	long limit = atol(getenv("PROBE_RATE_LIMIT") ? getenv("PROBE_RATE_LIMIT") : "50");
	int burst = (int)limit * 3, answered = 0, limited = 0, served = 0;
	char why[256], code[128], b_code[128];

	for (int i = 0; i < burst; i++) {
		Claims__EligibilityRequest r;
		Claims__BeneficiaryRef ref;
		char id[UUID_STR_LEN];

		eligibility_of(&r, &ref, tp_client_session(a));
		if (tp_client_send(a, CLAIMS__MESSAGE_TYPE__ELIGIBILITY_REQUEST, &r.base, id) != OK)
			break;
	}
	/* B asks while A's burst is being answered, not after. */
	served_meanwhile(b, b_code, sizeof(b_code));
	for (int i = 0; i < burst; i++) {
		struct envelope reply;

		if (tp_client_recv(a, 3000, &reply, why, sizeof(why)) != OK)
			break;
		answered++;
		code_of(&reply, code, sizeof(code));
		limited += strcmp(code, "RATE_LIMITED") == 0;
		served += code[0] == '\0';
		envelope_free(&reply);
	}
	snprintf(why, sizeof(why), "%d of %d answered, %d served, %d rate-limited", answered, burst,
		 served, limited);
	verdict("rate limit: every request of the burst answered", answered == burst, why);
	verdict("rate limit: past the limit, RATE_LIMITED", limited > 0 && served > 0, why);
	verdict("rate limit: another professional served during the burst", b_code[0] == '\0',
		b_code);
	sleep(2);
	ask(a, code, sizeof(code));
	verdict("rate limit: served again the next second", code[0] == '\0', code);
}

int main(void)
{
	struct tp_client *a, *b;
	char why[256];

	endpoint = getenv("CLAIMS_TP_ENDPOINT") ? getenv("CLAIMS_TP_ENDPOINT")
						: "tcp://127.0.0.1:5702";
	member = getenv("PROBE_MEMBER");
	ctx = zmq_ctx_new();
	a = client("PROBE_KEYS_A");
	b = client("PROBE_KEYS_B");
	if (member == NULL || a == NULL || b == NULL ||
	    tp_client_open_session(a, NULL, why, sizeof(why)) != OK ||
	    tp_client_open_session(b, NULL, why, sizeof(why)) != OK) {
		printf("not ok setup: clients A and B need keys, a member and a session\n");
		printf("0 passed, 1 failed\n");
		return 1;
	}
	refused_key("keys: unknown key refused at the handshake",
		    "keys: unknown key refused again (remembered)", "PROBE_KEYS_UNKNOWN");
	refused_key("keys: revoked key refused at the handshake", NULL, "PROBE_KEYS_REVOKED");
	other_still_served(b, "refused keys");
	key_replaced();
	malformed(a);
	other_still_served(b, "malformed frames");
	req_two_frames();
	replay_and_staleness(a);
	other_still_served(b, "replayed and stale requests");
	oversized();
	other_still_served(b, "an oversized message");
	rate_limit(a, b);
	session_expiry(a);
	tp_client_close(a);
	tp_client_close(b);
	zmq_ctx_term(ctx);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
