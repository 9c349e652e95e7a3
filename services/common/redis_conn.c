/*
 * NAME
 *	redis_conn.c - Redis connection with timeouts and reconnect (hiredis)
 */
#include "common/redis_conn.h"

#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"

struct redis_conn {
	redisContext *ctx;
	char host[256];
	int port;
	char user[128], password[256]; /* AUTH after each connect when set */
	int db;			       /* SELECT after each connect when not 0 */
	int64_t retry_at_us;	       /* no new connection attempt before */
	int timeout_ms;		       /* of a connect, and of each reply */
	atomic_int up;	    /* answering, as far as the last command knows; read by health checks */
	atomic_int replica; /* the last ping found a replica (read-only): not up */
	int no_role;	    /* ROLE denied (an ACL without @admin): pings write probe_key */
	char probe_key[64]; /* "" none: pings are PINGs */
	char last_error[64]; /* the last error reply's beginning */
};

/* A lost Redis is tried again at most once a second, and a second after
 * a failure that waited out its timeout (counted from its end): a
 * caller serving requests answers "unavailable" at once meanwhile,
 * instead of waiting out a timeout on every command. A frozen server
 * (stopped, or paused for a failover) still accepts connections in the
 * kernel: without the pause, every command would connect at once and
 * wait its timeout. See pause_after(). */
#define REDIS_RETRY_US 1000000

static int hex_digit(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
				      : -1;
}

/* A bounded copy of [from, to), %XX decoded (a URL's user and password
 * may hold any byte so written); ERR when it does not fit, or on a
 * malformed escape or an escaped NUL. */
static int copy_part(char *out, size_t out_len, const char *from, const char *to)
{
	size_t n = 0;

	for (const char *c = from; c < to; c++) {
		int hi, lo;

		if (n + 1 >= out_len)
			return ERR;
		if (*c != '%') {
			out[n++] = *c;
			continue;
		}
		if (to - c < 3 || (hi = hex_digit(c[1])) < 0 || (lo = hex_digit(c[2])) < 0 ||
		    hi * 16 + lo == 0)
			return ERR;
		out[n++] = (char)(hi * 16 + lo);
		c += 2;
	}
	out[n] = '\0';
	return OK;
}

/* redis://[[user]:password@]host:port[/db]: what Redis clients take
 * (user and password %XX-decoded). A
 * shared server's database number is honoured (tpgate's keys must not
 * land in another application's database 0), and a server that asks
 * for a password (requirepass, ACL users) is given it. */
static int parse_url(const char *url, struct redis_conn *r)
{
	const char *p = url, *at, *colon, *slash, *end_host;
	char *end;
	long n;

	if (strncmp(p, "redis://", 8) == 0)
		p += 8;
	/* The last '@' ends the credentials, which may hold '/' and '@'
	 * (a generated password): the host, the port and the database
	 * number hold neither. */
	at = strrchr(p, '@');
	slash = strchr(at != NULL ? at : p, '/');
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (colon == NULL || copy_part(r->user, sizeof(r->user), p, colon) != OK ||
		    copy_part(r->password, sizeof(r->password), colon + 1, at) != OK ||
		    r->password[0] == '\0')
			return ERR;
		p = at + 1;
	}
	end_host = slash ? slash : p + strlen(p);
	colon = memrchr(p, ':', (size_t)(end_host - p));
	if (colon == NULL || colon == p || copy_part(r->host, sizeof(r->host), p, colon) != OK)
		return ERR;
	if (colon[1] < '0' || colon[1] > '9')
		return ERR;
	n = strtol(colon + 1, &end, 10);
	if (end != end_host || n <= 0 || n > 65535)
		return ERR;
	r->port = (int)n;
	r->db = 0;
	if (slash != NULL && slash[1] != '\0') {
		if (slash[1] < '0' || slash[1] > '9')
			return ERR;
		n = strtol(slash + 1, &end, 10);
		if (*end != '\0' || n > 1000000)
			return ERR;
		r->db = (int)n;
	}
	return OK;
}

/* Forget a broken connection: the next command connects again. */
static void drop(struct redis_conn *r)
{
	if (r->ctx != NULL)
		redisFree(r->ctx);
	r->ctx = NULL;
	atomic_store(&r->up, 0);
}

/* The error of a server that takes no writes: a primary demoted by a
 * failover (READONLY), or a replica cut from its primary (MASTERDOWN).
 * The connection is dropped, so the next command connects again, and a
 * failover-aware address (a sentinel's virtual IP, a DNS name) leads it
 * to the new primary: an old connection would stay on the old one. */
static int refuses_writes(const char *error)
{
	return strncmp(error, "READONLY", 8) == 0 || strncmp(error, "MASTERDOWN", 10) == 0;
}

/* After a failure that began at start_us: one that waited out the
 * timeout (a frozen server) keeps the next attempt a second away from
 * its end; a fast one (refused, reset, closed) only a connection
 * attempt's second from its start, and a command's not at all: a
 * restarted server is connected to again by the next command. */
static void pause_after(struct redis_conn *r, int64_t start_us, int connecting)
{
	int64_t now = clock_mono_us();

	if (now - start_us >= (int64_t)r->timeout_ms * 900) /* 90 % of it */
		r->retry_at_us = now + REDIS_RETRY_US;
	else if (connecting)
		r->retry_at_us = start_us + REDIS_RETRY_US;
}

/* AUTH and SELECT on a new connection, as the URL asks. */
static int session_setup(struct redis_conn *r)
{
	redisReply *reply = NULL;

	if (r->password[0] != '\0') {
		reply = r->user[0] != '\0'
				? redisCommand(r->ctx, "AUTH %s %s", r->user, r->password)
				: redisCommand(r->ctx, "AUTH %s", r->password);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			log_error("redis auth %s:%d: %s", r->host, r->port,
				  reply ? reply->str : r->ctx->errstr);
			freeReplyObject(reply);
			return ERR;
		}
		freeReplyObject(reply);
	}
	if (r->db != 0) {
		reply = redisCommand(r->ctx, "SELECT %d", r->db);
		if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
			log_error("redis select %d on %s:%d: %s", r->db, r->host, r->port,
				  reply ? reply->str : r->ctx->errstr);
			freeReplyObject(reply);
			return ERR;
		}
		freeReplyObject(reply);
	}
	return OK;
}

static int connect_redis(struct redis_conn *r)
{
	struct timeval timeout = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};

	int64_t start = clock_mono_us();

	if (start < r->retry_at_us)
		return ERR;
	r->ctx = redisConnectWithTimeout(r->host, r->port, timeout);
	if (r->ctx == NULL || r->ctx->err) {
		log_error("redis connect %s:%d: %s", r->host, r->port,
			  r->ctx ? r->ctx->errstr : "cannot allocate context");
		drop(r);
		pause_after(r, start, 1);
		return ERR;
	}
	if (redisSetTimeout(r->ctx, timeout) != REDIS_OK) {
		log_error("redis set timeout: %s", r->ctx->errstr);
		drop(r);
		pause_after(r, start, 1);
		return ERR;
	}
	if (session_setup(r) != OK) {
		drop(r);
		pause_after(r, start, 1);
		return ERR;
	}
	r->retry_at_us = 0;
	atomic_store(&r->up, 1);
	return OK;
}

int redis_open_later(const char *url, int timeout_ms, struct redis_conn **out)
{
	struct redis_conn *r = xcalloc(1, sizeof(*r));

	r->timeout_ms = timeout_ms > 0 ? timeout_ms : REDIS_TIMEOUT_MS_DEFAULT;
	if (parse_url(url, r) != OK) {
		/* Not the URL itself: it may hold a password. */
		log_error("redis url: expected redis://[[user]:password@]host:port[/db]");
		free(r);
		return ERR;
	}
	*out = r;
	return OK;
}

int redis_open(const char *url, int timeout_ms, struct redis_conn **out)
{
	struct redis_conn *r;

	if (redis_open_later(url, timeout_ms, &r) != OK)
		return ERR;
	if (connect_redis(r) != OK) {
		free(r);
		return ERR;
	}
	*out = r;
	return OK;
}

int redis_up(struct redis_conn *r)
{
	return r != NULL && atomic_load(&r->up) && !atomic_load(&r->replica);
}

/* Up: the server answers, and as a primary. A replica (a failover
 * demoted this one, and the address still leads to it) answers reads,
 * PING too, and refuses every write READONLY: sessions and rate limits
 * are writes, so it is not up. */
/* Where ROLE is denied: a write of the probe key, which a replica
 * refuses READONLY (MASTERDOWN, cut from its primary): a replica so; a
 * success, a primary. Without a probe key, or with one the user may not
 * write (NOPERM: its key pattern), PING, and a replica is known only by
 * the writes of the requests. No reply (connection lost, timeout) says
 * nothing of the server's role: the last one found stands. */
static int plain_ping(struct redis_conn *r)
{
	redisReply *reply;
	int pong, status;

	r->last_error[0] = '\0';
	if (r->probe_key[0] != '\0')
		status = redis_command(r, &reply, "SET %s 1 PX 10000", r->probe_key);
	else
		status = redis_command(r, &reply, "PING");
	if (status != OK && r->probe_key[0] != '\0' && strncmp(r->last_error, "NOPERM", 6) == 0) {
		log_warn("redis: the probe key %s may not be written (%s); health checked by PING",
			 r->probe_key, r->last_error);
		r->probe_key[0] = '\0';
		atomic_store(&r->replica, 0); /* no longer seen either way */
		return plain_ping(r);
	}
	if (status != OK) {
		int refused = refuses_writes(r->last_error);

		if (refused)
			log_error("redis: the server is not a primary (%s): it refuses writes",
				  r->last_error);
		if (r->last_error[0] != '\0')
			atomic_store(&r->replica, refused);
		atomic_store(&r->up, 0);
		return ERR;
	}
	pong = reply->type == REDIS_REPLY_STATUS &&
	       (strcmp(reply->str, "PONG") == 0 || strcmp(reply->str, "OK") == 0);
	freeReplyObject(reply);
	if (r->probe_key[0] != '\0')
		atomic_store(&r->replica, 0); /* a write taken: a primary */
	atomic_store(&r->up, pong);
	return pong ? OK : ERR;
}

void redis_set_probe_key(struct redis_conn *r, const char *key)
{
	snprintf(r->probe_key, sizeof(r->probe_key), "%s", key != NULL ? key : "");
}

int redis_ping(struct redis_conn *r)
{
	redisReply *reply;
	int primary;

	if (r->no_role)
		return plain_ping(r);
	r->last_error[0] = '\0';
	if (redis_command(r, &reply, "ROLE") != OK) {
		/* ROLE is in @admin, which a user of least privilege lacks
		 * (+@all -@dangerous): that is not the server down. */
		if (strncmp(r->last_error, "NOPERM", 6) == 0 ||
		    strncmp(r->last_error, "ERR unknown command", 19) == 0) {
			log_warn("redis: ROLE denied (%s); health checked by %s", r->last_error,
				 r->probe_key[0] != '\0' ? "writing the probe key" : "PING");
			r->no_role = 1;
			return plain_ping(r);
		}
		/* An error reply (LOADING, MISCONF, NOPERM) leaves the
		 * connection up, and the server unable to serve. */
		atomic_store(&r->up, 0);
		return ERR;
	}
	primary = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
		  reply->element[0]->type == REDIS_REPLY_STRING &&
		  strcmp(reply->element[0]->str, "master") == 0;
	if (!primary)
		log_error("redis: the server is not a primary (ROLE %s): it refuses writes",
			  reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
					  reply->element[0]->type == REDIS_REPLY_STRING
				  ? reply->element[0]->str
				  : "?");
	freeReplyObject(reply);
	atomic_store(&r->replica, !primary);
	if (!primary)
		drop(r); /* see refuses_writes() */
	return primary ? OK : ERR;
}

void redis_close(struct redis_conn *r)
{
	if (r == NULL)
		return;
	if (r->ctx != NULL)
		redisFree(r->ctx);
	free(r);
}

/* Turn a hiredis outcome of a command sent at start_us into OK/ERR;
 * drop a broken context for reconnect. */
static int check_reply(struct redis_conn *r, redisReply *reply, redisReply **out, int64_t start_us)
{
	if (reply == NULL) {
		log_error("redis: %s", r->ctx->errstr);
		drop(r);
		pause_after(r, start_us, 0);
		return ERR;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		int demoted = refuses_writes(reply->str);

		log_error("redis: %s%s", reply->str, demoted ? " (connecting again)" : "");
		snprintf(r->last_error, sizeof(r->last_error), "%s", reply->str);
		freeReplyObject(reply);
		if (demoted)
			drop(r);
		return ERR;
	}
	atomic_store(&r->up, 1);
	if (out != NULL)
		*out = reply;
	else
		freeReplyObject(reply);
	return OK;
}

int redis_command(struct redis_conn *r, redisReply **out, const char *fmt, ...)
{
	va_list ap;
	redisReply *reply;
	int64_t start;

	if (r->ctx == NULL && connect_redis(r) != OK)
		return ERR;
	start = clock_mono_us();
	va_start(ap, fmt);
	reply = redisvCommand(r->ctx, fmt, ap);
	va_end(ap);
	return check_reply(r, reply, out, start);
}

int redis_commandv(struct redis_conn *r, redisReply **out, int argc, const char **argv,
		   const size_t *argvlen)
{
	int64_t start;

	if (r->ctx == NULL && connect_redis(r) != OK)
		return ERR;
	start = clock_mono_us();
	return check_reply(r, redisCommandArgv(r->ctx, argc, argv, argvlen), out, start);
}

int redis_append(struct redis_conn *r, int argc, const char **argv, const size_t *argvlen)
{
	if (r->ctx == NULL && connect_redis(r) != OK)
		return ERR;
	if (redisAppendCommandArgv(r->ctx, argc, argv, argvlen) != REDIS_OK) {
		log_error("redis: %s", r->ctx->errstr);
		drop(r);
		return ERR;
	}
	return OK;
}

int redis_next_reply(struct redis_conn *r, redisReply **out)
{
	void *reply = NULL;
	int64_t start = clock_mono_us();

	if (r->ctx == NULL)
		return ERR; /* broken earlier in this pipeline */
	if (redisGetReply(r->ctx, &reply) != REDIS_OK || reply == NULL) {
		log_error("redis: %s", r->ctx->errstr);
		drop(r);
		pause_after(r, start, 0);
		return ERR;
	}
	/* The rest of this pipeline is lost with the connection: those
	 * requests fail as they would have on this server. */
	if (((redisReply *)reply)->type == REDIS_REPLY_ERROR &&
	    refuses_writes(((redisReply *)reply)->str)) {
		log_error("redis: %s (connecting again)", ((redisReply *)reply)->str);
		drop(r);
	}
	*out = reply;
	return OK;
}
