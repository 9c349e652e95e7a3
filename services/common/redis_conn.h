/*
 * NAME
 *	redis_conn.h - Redis connection with timeouts and reconnect (hiredis)
 *
 * SYNOPSIS
 *	struct redis_conn *r;
 *	redis_open("redis://127.0.0.1:56379", 0, &r);
 *	redis_open("redis://claims:secret@redis.internal:6379/2", 250, &r);
 *	redisReply *reply;
 *	if (redis_command(r, &reply, "SET %s %b EX %d", key, val, len, ttl) == OK)
 *		freeReplyObject(reply);
 *
 * DESCRIPTION
 *	Redis holds caches, sessions and rate limits: losing it loses no
 *	record, so callers treat ERR as "cache unavailable" and fall back to
 *	PostgreSQL. Commands are sent with hiredis' printf-like formatting,
 *	which passes each argument as a separate bulk string (no injection).
 *	A connect, and each reply, waits at most the timeout given to
 *	redis_open(). A broken connection is re-established on the next
 *	command, at most one attempt a second, and not before a second
 *	after a failure that waited out the timeout (meanwhile commands
 *	fail at once): a frozen server costs one timeout a second, not one
 *	per command.
 *
 * DIAGNOSTICS
 *	ERR on a connection failure or an error reply, after logging it.
 */
#ifndef COMMON_REDIS_CONN_H
#define COMMON_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "common/status.h"

struct redis_conn;

#define REDIS_TIMEOUT_MS_DEFAULT 1000 /* timeout_ms 0: this */

int redis_open(const char *url, int timeout_ms, struct redis_conn **out) MUST_CHECK;
/* The same without connecting: the first command connects (for a daemon
 * to which Redis is an extra, that must start while Redis is away). ERR
 * only for a URL it cannot read. */
int redis_open_later(const char *url, int timeout_ms, struct redis_conn **out) MUST_CHECK;
void redis_close(struct redis_conn *r);
/* 1 while connected and answering, as far as the last command knows,
 * and a primary, as far as the last ping knows; safe from another thread
 * (a health check). */
int redis_up(struct redis_conn *r);
/* ROLE: OK when the server answers, as a primary. An error reply (a
 * server loading its data, a user denied the command) counts as down
 * for redis_up() until a command succeeds again; a replica (read-only:
 * a failover demoted it), until a ping finds a primary. ROLE denied to
 * the user (NOPERM: it is in @admin) or renamed away: from then on, the
 * probe key's write (redis_set_probe_key()), refused READONLY by a
 * replica, or PING without one. A replica found, or any command or
 * pipelined one refused READONLY or MASTERDOWN, closes the connection:
 * the next command connects again, to the new primary behind a
 * failover-aware address. */
int redis_ping(struct redis_conn *r) MUST_CHECK;
/* The key redis_ping() writes (SET, expiring in 10 s) when ROLE is
 * denied, so that a replica is seen by the ping, not only by the
 * requests' refused writes: a key the user may write. */
void redis_set_probe_key(struct redis_conn *r, const char *key);
int redis_command(struct redis_conn *r, redisReply **reply, const char *fmt, ...) MUST_CHECK;
int redis_commandv(struct redis_conn *r, redisReply **reply, int argc, const char **argv,
		   const size_t *argvlen) MUST_CHECK;

/* Pipelining: queue commands with redis_append(), then read their replies
 * in order with redis_next_reply(): one round trip for all. An error
 * reply is a reply (OK, type REDIS_REPLY_ERROR), so one failed command
 * does not fail the others; ERR means the connection broke, or was
 * closed after a reply refused READONLY or MASTERDOWN (see redis_ping),
 * and the replies still due are lost (it reconnects on the next
 * command). */
int redis_append(struct redis_conn *r, int argc, const char **argv,
		 const size_t *argvlen) MUST_CHECK;
int redis_next_reply(struct redis_conn *r, redisReply **out) MUST_CHECK;

#endif
