/*
 * NAME
 *	tpgate_admit.c - may this request go on: rate limit, session,
 *	replay, in one atomic step in Redis
 *
 * DESCRIPTION
 *	Every request passes, before any work, a Lua script (atomic, and the same answer whichever front-door replica
 *	runs it) that
 *
 *	1. counts the professional's requests in the current second and
 *	   refuses past the limit (RATE_LIMITED): a burst is answered at
 *	   once instead of queueing without bound, and even requests that
 *	   fail later count, so a client cannot hammer the door with bad
 *	   sessions;
 *	2. checks the session token and pushes its expiry back (NO_SESSION
 *	   when unknown, expired, or another professional's: the key names
 *	   the owner);
 *	3. remembers the request id for the replay window and refuses a
 *	   second request with the same id (REPLAYED_REQUEST). The front
 *	   door also refuses requests created outside that window, so a
 *	   forgotten id can never be replayed.
 *
 *	The requests read in one pass of the loop are admitted together:
 *	their scripts, and the GET of the members' cached rights they will
 *	need, are pipelined, so a whole batch costs one round trip to Redis.
 *
 *	Sessions are 32 random bytes from libsodium, in hex. Who is asking
 *	is never taken from the request: it is the User-Id the ZAP handler
 *	gave the connection (tp_identity_parse()).
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/tpkeys.h"
#include "tpgate/tpgate.h"

/* The ZAP handler's User-Id: "ref/kind/value/key", the key 40 Z85
 * characters (which may hold a '/': it is the rest of the text). */
int tp_identity_parse(const char *user_id, struct tp_identity *out)
{
	long long ref;
	int end = 0;

	memset(out, 0, sizeof(*out));
	if (sscanf(user_id, "%lld/%7[A-Z]/%31[^/]/%n", &ref, out->kind, out->value, &end) != 3 ||
	    end == 0 || strlen(user_id + end) != 40 || ref <= 0)
		return ERR;
	memcpy(out->key, user_id + end, 40);
	out->key[40] = '\0';
	out->ref = ref;
	return OK;
}

/* KEYS: rate, seen[, session]; ARGV: limit, replay ttl s, session ttl s. */
static const char admit_script[] =
	"local n = redis.call('INCR', KEYS[1])\n"
	"if n == 1 then redis.call('PEXPIRE', KEYS[1], 2000) end\n"
	"if n > tonumber(ARGV[1]) then return 'RATE_LIMITED' end\n"
	"if #KEYS >= 3 and redis.call('EXPIRE', KEYS[3], ARGV[3]) == 0 then\n"
	"  return 'NO_SESSION' end\n"
	"if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then\n"
	"  return 'REPLAYED_REQUEST' end\n"
	"return 'OK'\n";

static const char *const refusals[] = {"RATE_LIMITED", "NO_SESSION", "REPLAYED_REQUEST"};

/* Added to the time a request id is remembered. Each replica judges
 * staleness by its own clock, Redis expires the id by its own: a
 * replica whose clock is ahead admits a request earlier, one behind
 * admits its replay later, and by the difference the id would be
 * forgotten in between. Replicas kept by NTP are milliseconds apart; a
 * minute covers a drifting host, for a few more keys per professional. */
#define REPLAY_MARGIN_S 60

/* The script's SHA-1, as Redis names it: EVALSHA sends 40 bytes instead
 * of the script. A Redis that lost its scripts (restart, SCRIPT FLUSH)
 * answers NOSCRIPT: the script is loaded again and the requests so
 * answered are tried again, once. Only those: the others of the batch
 * ran (a flush may come between two commands of the pipeline), and a
 * second run would find their ids seen (REPLAYED_REQUEST) and count
 * them twice against the rate limit. */
static char admit_sha[41];

static int load_script(struct redis_conn *redis)
{
	redisReply *reply;
	int status = ERR;

	if (redis_command(redis, &reply, "SCRIPT LOAD %s", admit_script) != OK)
		return ERR;
	if (reply->type == REDIS_REPLY_STRING && reply->len == 40) {
		memcpy(admit_sha, reply->str, 41);
		status = OK;
	}
	freeReplyObject(reply);
	return status;
}

/* The admission script's arguments for one request. */
struct admit_args {
	char rate[96], seen[160], session[200], rights[128];
	const char *argv[9];
	int argc;
};

static void admit_args(const struct tp_admission *a, const char *numbers[3], struct admit_args *x)
{
	snprintf(x->rate, sizeof(x->rate), TP_KEY_RATE, (long long)a->who->ref,
		 (long long)(clock_now_us() / 1000000));
	snprintf(x->seen, sizeof(x->seen), TP_KEY_SEEN, (long long)a->who->ref, a->request_id);
	snprintf(x->session, sizeof(x->session), TP_KEY_SESSION, (long long)a->who->ref,
		 a->session_token ? a->session_token : "");
	x->argc = 0;
	x->argv[x->argc++] = "EVALSHA";
	x->argv[x->argc++] = admit_sha;
	x->argv[x->argc++] = a->session_token ? "3" : "2";
	x->argv[x->argc++] = x->rate;
	x->argv[x->argc++] = x->seen;
	if (a->session_token)
		x->argv[x->argc++] = x->session;
	x->argv[x->argc++] = numbers[0];
	x->argv[x->argc++] = numbers[1];
	x->argv[x->argc++] = numbers[2];
}

static int noscript(const redisReply *reply)
{
	return reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0;
}

static void admit_answer(struct tp_admission *a, redisReply *reply)
{
	if (noscript(reply)) {
		a->status = ERR;
		return;
	}
	if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
		log_error("admission script: %s",
			  reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply type");
		a->status = ERR;
		return;
	}
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (strcmp(reply->str, refusals[i]) == 0)
			a->refusal = refusals[i];
	if (a->refusal == NULL && strcmp(reply->str, "OK") != 0) {
		log_error("admission script answered %s", reply->str);
		a->status = ERR;
	}
}

/* Queue the commands of the requests not yet decided; a broken
 * connection fails them all. */
static int admit_send(struct redis_conn *redis, const struct tp_limits *limits,
		      struct tp_admission *a, int n)
{
	char limit[24], replay[24], ttl[24];
	const char *numbers[3] = {limit, replay, ttl};

	snprintf(limit, sizeof(limit), "%ld", limits->rate_limit);
	/* A request may be stamped up to a window ahead of our clock and
	 * is accepted for a window after that: its id is kept for both,
	 * and the margin for the clocks of the other replicas. */
	snprintf(replay, sizeof(replay), "%ld", 2 * limits->replay_window_s + REPLAY_MARGIN_S);
	snprintf(ttl, sizeof(ttl), "%ld", limits->session_ttl_s);
	for (int i = 0; i < n; i++) {
		struct admit_args x;

		if (!a[i].undecided)
			continue;
		admit_args(&a[i], numbers, &x);
		if (redis_append(redis, x.argc, x.argv, NULL) != OK)
			return ERR;
		if (a[i].membership != NULL) {
			const char *get[2] = {"GET", x.rights};

			snprintf(x.rights, sizeof(x.rights), TP_KEY_RIGHTS, a[i].membership);
			if (redis_append(redis, 2, get, NULL) != OK)
				return ERR;
		}
	}
	return OK;
}

/* One try of the requests not yet decided; returns how many of them
 * are still undecided (Redis had lost the script: nothing was run for
 * them, their status ERR until a try decides them). */
static int admit_try(struct redis_conn *redis, const struct tp_limits *limits,
		     struct tp_admission *a, int n)
{
	int broken, lost = 0;

	for (int i = 0; i < n; i++) {
		if (!a[i].undecided)
			continue;
		a[i].status = OK;
		a[i].refusal = NULL;
		tp_admission_free(&a[i]); /* the rights read by a try that lost the script */
	}
	broken = admit_send(redis, limits, a, n) != OK;
	for (int i = 0; i < n; i++) {
		redisReply *reply;

		if (!a[i].undecided)
			continue;
		a[i].undecided = 0;
		if (broken || redis_next_reply(redis, &reply) != OK) {
			broken = 1;
			a[i].status = ERR;
			continue;
		}
		a[i].undecided = noscript(reply);
		lost += a[i].undecided;
		admit_answer(&a[i], reply);
		freeReplyObject(reply);
		if (a[i].membership == NULL)
			continue;
		if (redis_next_reply(redis, &reply) != OK) {
			broken = 1;
			a[i].status = ERR;
			continue;
		}
		if (reply->type == REDIS_REPLY_STRING)
			a[i].rights = reply; /* a cache read that failed is a miss */
		else
			freeReplyObject(reply);
	}
	return lost;
}

void tp_admit_batch(struct redis_conn *redis, const struct tp_limits *limits,
		    struct tp_admission *a, int n)
{
	for (int i = 0; i < n; i++) {
		a[i].undecided = 1;
		a[i].rights = NULL;
	}
	if (admit_sha[0] == '\0' && load_script(redis) != OK) {
		for (int i = 0; i < n; i++)
			a[i].status = ERR;
		return;
	}
	if (admit_try(redis, limits, a, n) == 0)
		return;
	log_warn("Redis lost the admission script; loading it again");
	/* Undecided requests keep status ERR when it cannot be loaded, or
	 * when Redis loses it again at once. */
	if (load_script(redis) == OK && admit_try(redis, limits, a, n) > 0)
		log_error("Redis lost the admission script again; requests answered UNAVAILABLE");
}

void tp_admission_free(struct tp_admission *a)
{
	if (a->rights != NULL)
		freeReplyObject(a->rights);
	a->rights = NULL;
}

int tp_session_end(struct redis_conn *redis, const struct tp_identity *who, const char token[65])
{
	char key[200];

	snprintf(key, sizeof(key), TP_KEY_SESSION, (long long)who->ref, token);
	return redis_command(redis, NULL, "DEL %s", key);
}

int tp_session_create(struct redis_conn *redis, const struct tp_limits *limits,
		      const struct tp_identity *who, char token[65], int64_t *expires_at_us)
{
	unsigned char raw[32];
	char key[200];
	redisReply *reply;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(token, 65, raw, sizeof(raw));
	snprintf(key, sizeof(key), TP_KEY_SESSION, (long long)who->ref, token);
	if (redis_command(redis, &reply, "SET %s %lld EX %ld", key, (long long)who->ref,
			  limits->session_ttl_s) != OK)
		return ERR;
	freeReplyObject(reply);
	*expires_at_us = clock_now_us() + (int64_t)limits->session_ttl_s * 1000000;
	return OK;
}
