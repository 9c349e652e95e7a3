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
	int64_t retry_at_us; /* no new connection attempt before */
	atomic_int up; /* connected, as far as the last command knows; read by health checks */
};

/* A lost Redis is tried again at most once a second: a caller serving
 * requests answers "unavailable" at once meanwhile, instead of waiting
 * for a connect timeout on every command. */
#define REDIS_RETRY_US 1000000

static int parse_url(const char *url, char *host, size_t host_len, int *port)
{
	const char *p = url, *colon;
	char *end;
	long n;

	if (strncmp(p, "redis://", 8) == 0)
		p += 8;
	colon = strrchr(p, ':');
	if (colon == NULL || (size_t)(colon - p) >= host_len || colon == p)
		return ERR;
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	n = strtol(colon + 1, &end, 10);
	if ((*end != '\0' && *end != '/') || n <= 0 || n > 65535)
		return ERR;
	*port = (int)n;
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

static int connect_redis(struct redis_conn *r)
{
	struct timeval timeout = {1, 0};

	if (clock_mono_us() < r->retry_at_us)
		return ERR;
	r->retry_at_us = clock_mono_us() + REDIS_RETRY_US;
	r->ctx = redisConnectWithTimeout(r->host, r->port, timeout);
	if (r->ctx == NULL || r->ctx->err) {
		log_error("redis connect %s:%d: %s", r->host, r->port,
			  r->ctx ? r->ctx->errstr : "cannot allocate context");
		drop(r);
		return ERR;
	}
	if (redisSetTimeout(r->ctx, timeout) != REDIS_OK) {
		log_error("redis set timeout: %s", r->ctx->errstr);
		drop(r);
		return ERR;
	}
	r->retry_at_us = 0;
	atomic_store(&r->up, 1);
	return OK;
}

int redis_open(const char *url, struct redis_conn **out)
{
	struct redis_conn *r = xcalloc(1, sizeof(*r));

	if (parse_url(url, r->host, sizeof(r->host), &r->port) != OK) {
		log_error("redis url %s: expected redis://host:port", url);
		free(r);
		return ERR;
	}
	if (connect_redis(r) != OK) {
		free(r);
		return ERR;
	}
	*out = r;
	return OK;
}

int redis_up(struct redis_conn *r)
{
	return r != NULL && atomic_load(&r->up);
}

void redis_close(struct redis_conn *r)
{
	if (r == NULL)
		return;
	if (r->ctx != NULL)
		redisFree(r->ctx);
	free(r);
}

/* Turn a hiredis outcome into OK/ERR; drop a broken context for reconnect. */
static int check_reply(struct redis_conn *r, redisReply *reply, redisReply **out)
{
	if (reply == NULL) {
		log_error("redis: %s", r->ctx->errstr);
		drop(r);
		return ERR;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		log_error("redis: %s", reply->str);
		freeReplyObject(reply);
		return ERR;
	}
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

	if (r->ctx == NULL && connect_redis(r) != OK)
		return ERR;
	va_start(ap, fmt);
	reply = redisvCommand(r->ctx, fmt, ap);
	va_end(ap);
	return check_reply(r, reply, out);
}

int redis_commandv(struct redis_conn *r, redisReply **out, int argc, const char **argv,
		   const size_t *argvlen)
{
	if (r->ctx == NULL && connect_redis(r) != OK)
		return ERR;
	return check_reply(r, redisCommandArgv(r->ctx, argc, argv, argvlen), out);
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

	if (r->ctx == NULL)
		return ERR; /* broken earlier in this pipeline */
	if (redisGetReply(r->ctx, &reply) != REDIS_OK || reply == NULL) {
		log_error("redis: %s", r->ctx->errstr);
		drop(r);
		return ERR;
	}
	*out = reply;
	return OK;
}
