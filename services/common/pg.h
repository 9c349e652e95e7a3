/*
 * NAME
 *	pg.h - PostgreSQL connection with reconnect and prepared statements
 *
 * SYNOPSIS
 *	struct pg *db;
 *	pg_open(dsn, &db);
 *	pg_prepare(db, "claim_insert", "INSERT ... VALUES ($1, $2)", 2);
 *	const char *v[] = { id, status };
 *	pg_exec_prepared(db, "claim_insert", 2, v, NULL, NULL, NULL);
 *
 * DESCRIPTION
 *	Parameterised SQL only: values travel apart from the statement text.
 *	Statements prepared through pg_prepare() are remembered and prepared
 *	again after a reconnect, so callers name them without caring whether
 *	the session is new.
 *
 *	After a failure the caller rolls back (pg_rollback) and may call
 *	pg_check(), which re-establishes a broken connection. The SQLSTATE of
 *	the last failure (pg_sqlstate) lets callers tell a unique violation
 *	from an outage.
 *
 * DIAGNOSTICS
 *	Every function returns OK or ERR after logging libpq's message.
 */
#ifndef COMMON_PG_H
#define COMMON_PG_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "common/status.h"

#define PG_UNIQUE_VIOLATION	 "23505"
#define PG_SERIALIZATION_FAILURE "40001"
#define PG_DEADLOCK		 "40P01"
#define PG_OUT_OF_SHARED_MEMORY	 "53200"
#define PG_QUERY_CANCELED	 "57014" /* statement_timeout, among others */

struct pg;

int pg_open(const char *dsn, struct pg **out) MUST_CHECK;
/* The same for a thread that answers clients, who wait for it: a
 * server that does not answer is given up within seconds (connection
 * attempt 2 s, unacknowledged data about 2 s, silence about 7 s)
 * rather than 5 s and a minute. The DSN still overrides them. */
int pg_open_serving(const char *dsn, struct pg **out) MUST_CHECK;
/* For a thread that serves clients, called every second or so: OK when
 * the session in place answers. Never waits out a connection attempt
 * itself (a server that does not answer at all holds each for
 * connect_timeout): while the session is down, a thread of its own tries
 * to reach the server, and once it has, the session is made again on the
 * caller's thread (at once: the server answers). */
int pg_probe(struct pg *db) MUST_CHECK;
void pg_close(struct pg *db);
PGconn *pg_conn(struct pg *db);

int pg_prepare(struct pg *db, const char *name, const char *sql, int nparams) MUST_CHECK;

/* Run a registered statement. values may hold NULLs (SQL NULL); lengths and
 * formats may be NULL (all text). res receives a result the caller clears
 * with PQclear, or is NULL when the caller wants none. */
int pg_exec_prepared(struct pg *db, const char *name, int nparams, const char *const *values,
		     const int *lengths, const int *formats, PGresult **res) MUST_CHECK;
/* The same with text parameters and results in binary: for statements
 * returning many integers, which PostgreSQL then need not format nor the
 * caller parse. Read the integer columns with pg_binary_int(). */
int pg_exec_prepared_binary(struct pg *db, const char *name, int nparams, const char *const *values,
			    PGresult **res) MUST_CHECK;
/* A smallint, integer or bigint column of a binary result. */
int64_t pg_binary_int(const PGresult *res, int row, int col);
/* Run ad-hoc SQL with parameters (no preparation). */
int pg_exec_params(struct pg *db, const char *sql, int nparams, const char *const *values,
		   PGresult **res) MUST_CHECK;
/* Run parameterless SQL, possibly several statements (migrations, BEGIN). */
int pg_exec(struct pg *db, const char *sql) MUST_CHECK;

/* BEGIN; on a session the server ended, on a new one (not when pinned). */
int pg_begin(struct pg *db) MUST_CHECK;
int pg_commit(struct pg *db) MUST_CHECK;
/* pinned 1: the session holds what a new one would not (a session-level
 * advisory lock): a statement that finds it ended fails rather than run
 * again on a new one. 0 (the default): it may. */
void pg_pin_session(struct pg *db, int pinned);
void pg_rollback(struct pg *db);

/* Print the plan PostgreSQL holds for each statement prepared on this
 * session, in the order they were prepared, each under "-- name": what
 * the daemons' --plans prints for operators and tests. */
int pg_print_plans(struct pg *db, FILE *out) MUST_CHECK;

/* A setting of every session this process opens from now on, as
 * pg_set() gives one session: for the daemons, called by daemon_main()
 * before any session or thread exists. name and value must outlive the
 * process's sessions (literals). */
int pg_session_default(const char *name, const char *value) MUST_CHECK;

/* A session setting (SET name = value), kept and applied again after a
 * reconnect, e.g. pg_set(db, "statement_timeout", "2s"). */
int pg_set(struct pg *db, const char *name, const char *value) MUST_CHECK;
/* pg_exec_prepared*(): a statement outside a transaction that finds its
 * session cut is run once more after reconnecting. */
/* For a thread that serves many clients on one session: once a prepared
 * statement is cancelled (statement_timeout: a lock held, a server
 * overloaded), the session's prepared statements fail at once, SQLSTATE
 * PG_QUERY_CANCELED, for the next ms milliseconds, then the next one
 * tries again: a server slow for everyone costs the thread one timeout
 * in each such period, not one for every client asking meanwhile. */
void pg_pause_after_timeout(struct pg *db, int ms);
/* LISTEN to a channel, now and after every reconnect. */
int pg_listen(struct pg *db, const char *channel) MUST_CHECK;
/* Has a NOTIFY on `channel` arrived since the last call (without waiting:
 * what the server has sent), or was the session made again since, which
 * may have missed some? Notices reach a session between transactions.
 * It takes every notice the session has: one channel per session. */
int pg_notified(struct pg *db, const char *channel);
/* Reconnect if the connection is broken. */
int pg_check(struct pg *db) MUST_CHECK;
/* Is the server there? A query, and one reconnect if it found the
 * session cut (for idle loops and health checks). */
int pg_ping(struct pg *db) MUST_CHECK;
/* The session in place asked (SELECT 1); never connects again. */
int pg_ping_session(struct pg *db) MUST_CHECK;
/* Was the session up at the loop's last look (its last connect or
 * pg_check)? The one call other threads (/health) may make on `db`. */
int pg_is_up(struct pg *db);
const char *pg_sqlstate(struct pg *db);

#endif
