/*
 * NAME
 *	pg.c - PostgreSQL connection with reconnect and prepared statements
 */
#include "common/pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "common/xalloc.h"

struct pg_statement {
	char *name;
	char *sql;
	int nparams;
	struct pg_statement *next;
};

/* A session setting, applied again after every reconnect. */
struct pg_setting {
	char *name, *value;
	struct pg_setting *next;
};

struct pg {
	PGconn *conn;
	/* What other threads (/health) may know of the session: conn itself
	 * is the loop's, freed and made again while they would read it. */
	atomic_int up;
	char *dsn;
	struct pg_statement *statements;
	struct pg_setting *settings;
	struct pg_setting *listens; /* channels LISTENed to (name only) */
	int missed_notices;	    /* made again since: notices may have been lost */
	int serving;		    /* pg_open_serving(): fails fast */
	int pinned;		    /* pg_pin_session(): never renewed under a statement */
	/* pg_probe(): while the server is away, a thread reaching for it. */
	pthread_t reach_thread;
	int reach_running;
	atomic_int reach_result; /* -1 trying, 0 not reached, 1 reached */
	char sqlstate[6];
	char first_failure[6];	  /* of the transaction in flight (pg_begin resets it) */
	int64_t timeout_pause_us; /* pg_pause_after_timeout(); 0: never */
	int64_t paused_until_us;  /* prepared statements fail at once until then */
};

static void pg_notice(void *arg, const char *message)
{
	UNUSED(arg);
	log_debug("postgres: %.*s", (int)strcspn(message, "\n"), message);
}

/* A session command's outcome, logged when it is not `want`; res freed. */
static int command_ok(PGresult *res, ExecStatusType want, const char *what, const char *name)
{
	int status = PQresultStatus(res) == want ? OK : ERR;

	if (status != OK)
		log_error("postgres %s %s: %.*s", what, name,
			  (int)strcspn(PQresultErrorMessage(res), "\n"), PQresultErrorMessage(res));
	PQclear(res);
	return status;
}

static int apply_setting(struct pg *db, const struct pg_setting *s)
{
	const char *v[2] = {s->name, s->value};

	return command_ok(PQexecParams(db->conn, "SELECT set_config($1, $2, false)", 2, NULL, v,
				       NULL, NULL, 0),
			  PGRES_TUPLES_OK, "set", s->name);
}

/* The DSN may override every default here: it comes after them. TCP
 * keepalives and a user timeout make a vanished server (a network
 * partition, a host gone) an error within about 30 s (25 s of silence,
 * 30 s of data unacknowledged) instead of a call blocked for the
 * kernel's quarter of an hour, well inside a consumer's 60 s between
 * polls (a worker blocked longer leaves its group), and a connection
 * attempt gives up after 5 s; the application name shows in
 * pg_stat_activity which daemon a session belongs to. A connection of a
 * thread that answers clients (pg_open_serving) gives up sooner: within
 * 2 s for an attempt, about 2 s of unacknowledged data or 7 s of
 * silence: its clients wait for it. */
static const char *const connect_keywords[] = {"application_name",
					       "connect_timeout",
					       "keepalives",
					       "keepalives_idle",
					       "keepalives_interval",
					       "keepalives_count",
					       "tcp_user_timeout",
					       "dbname",
					       NULL};
static const char *const connect_values[] = {NULL, "5", "1", "10", "5", "3", "30000", NULL, NULL};
static const char *const serving_values[] = {NULL, "2", "1", "5", "1", "2", "2000", NULL, NULL};

static PGconn *connect_with_defaults(const char *dsn, int serving)
{
	const char *values[sizeof(connect_values) / sizeof(connect_values[0])];

	memcpy(values, serving ? serving_values : connect_values, sizeof(values));
	values[0] = program_invocation_short_name;
	values[sizeof(values) / sizeof(values[0]) - 2] = dsn;
	return PQconnectdbParams(connect_keywords, values, 1);
}

static int check_result(struct pg *db, PGresult *res, const char *what, PGresult **out);

static int apply_listen(struct pg *db, const char *channel)
{
	char *id = PQescapeIdentifier(db->conn, channel, strlen(channel)), *sql;
	int status;

	if (id == NULL) {
		log_error("postgres listen %s: %s", channel, PQerrorMessage(db->conn));
		return ERR;
	}
	sql = xasprintf("LISTEN %s", id);
	PQfreemem(id);
	status = check_result(db, PQexec(db->conn, sql), "listen", NULL);
	free(sql);
	return status;
}

static int connect_db(struct pg *db)
{
	atomic_store(&db->up, 0);
	db->conn = connect_with_defaults(db->dsn, db->serving);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_error("postgres connect: %.*s", (int)strcspn(PQerrorMessage(db->conn), "\n"),
			  PQerrorMessage(db->conn));
		PQfinish(db->conn);
		db->conn = NULL;
		return ERR;
	}
	PQsetNoticeProcessor(db->conn, pg_notice, NULL);
	for (const struct pg_setting *s = db->settings; s != NULL; s = s->next) {
		if (apply_setting(db, s) != OK) {
			PQfinish(db->conn);
			db->conn = NULL;
			return ERR;
		}
	}
	for (const struct pg_setting *l = db->listens; l != NULL; l = l->next) {
		if (apply_listen(db, l->name) != OK) {
			PQfinish(db->conn);
			db->conn = NULL;
			return ERR;
		}
	}
	atomic_store(&db->up, 1);
	return OK;
}

/* One value a name: a setting made again (a daemon's own statement
 * timeout over every session's default) replaces the one kept, or after
 * a reconnect the older, applied last, would be the one in force. */
static struct pg_setting *keep_setting(struct pg *db, const char *name, const char *value)
{
	struct pg_setting *s;

	for (s = db->settings; s != NULL; s = s->next)
		if (strcmp(s->name, name) == 0)
			break;
	if (s == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->name = xstrdup(name);
		s->next = db->settings;
		db->settings = s;
	} else {
		free(s->value);
	}
	s->value = xstrdup(value);
	return s;
}

int pg_set(struct pg *db, const char *name, const char *value)
{
	struct pg_setting *s = keep_setting(db, name, value);

	return db->conn != NULL ? apply_setting(db, s) : OK;
}

int pg_listen(struct pg *db, const char *channel)
{
	struct pg_setting *l = xcalloc(1, sizeof(*l));

	l->name = xstrdup(channel);
	l->next = db->listens;
	db->listens = l;
	return db->conn != NULL ? apply_listen(db, channel) : OK;
}

int pg_notified(struct pg *db, const char *channel)
{
	PGnotify *n;
	int heard = db->missed_notices;

	db->missed_notices = 0;
	if (db->conn == NULL)
		return heard;
	/* What the server sent since the last statement; a failure here
	 * is the connection's, which the next statement reports. */
	if (PQconsumeInput(db->conn) == 0)
		return heard;
	while ((n = PQnotifies(db->conn)) != NULL) {
		heard |= strcmp(n->relname, channel) == 0;
		PQfreemem(n);
	}
	return heard;
}

static int prepare_one(struct pg *db, const struct pg_statement *s)
{
	return command_ok(PQprepare(db->conn, s->name, s->sql, s->nparams, NULL), PGRES_COMMAND_OK,
			  "prepare", s->name);
}

/* Settings of every session the process opens (pg_session_default). */
#define MAX_SESSION_DEFAULTS 8
static struct {
	const char *name, *value;
} session_defaults[MAX_SESSION_DEFAULTS];
static size_t n_session_defaults;

int pg_session_default(const char *name, const char *value)
{
	if (n_session_defaults == MAX_SESSION_DEFAULTS) {
		log_error("postgres: more than %d session defaults", MAX_SESSION_DEFAULTS);
		return ERR;
	}
	session_defaults[n_session_defaults].name = name;
	session_defaults[n_session_defaults].value = value;
	n_session_defaults++;
	return OK;
}

static int open_db(const char *dsn, int serving, struct pg **out)
{
	struct pg *db = xcalloc(1, sizeof(*db));

	db->dsn = xstrdup(dsn);
	db->serving = serving;
	/* Dates come back as text in places (date::text) and are parsed as
	 * YYYY-MM-DD: a DateStyle set on the role, the database or PGOPTIONS
	 * must not turn them into 03/12/2026. */
	keep_setting(db, "DateStyle", "ISO, YMD");
	for (size_t i = 0; i < n_session_defaults; i++)
		keep_setting(db, session_defaults[i].name, session_defaults[i].value);
	if (connect_db(db) != OK) {
		pg_close(db);
		return ERR;
	}
	*out = db;
	return OK;
}

int pg_open(const char *dsn, struct pg **out)
{
	return open_db(dsn, 0, out);
}

int pg_open_serving(const char *dsn, struct pg **out)
{
	return open_db(dsn, 1, out);
}

static void reach_join(struct pg *db)
{
	if (db->reach_running && pthread_join(db->reach_thread, NULL) != 0)
		log_warn("postgres: the thread reaching the server was not joined");
	db->reach_running = 0;
}

void pg_close(struct pg *db)
{
	struct pg_statement *s, *next;

	if (db == NULL)
		return;
	reach_join(db);
	for (s = db->statements; s != NULL; s = next) {
		next = s->next;
		free(s->name);
		free(s->sql);
		free(s);
	}
	for (struct pg_setting *t = db->settings, *after; t != NULL; t = after) {
		after = t->next;
		free(t->name);
		free(t->value);
		free(t);
	}
	for (struct pg_setting *t = db->listens, *after; t != NULL; t = after) {
		after = t->next;
		free(t->name);
		free(t);
	}
	if (db->conn != NULL)
		PQfinish(db->conn);
	free(db->dsn);
	free(db);
}

PGconn *pg_conn(struct pg *db)
{
	return db->conn;
}

int pg_prepare(struct pg *db, const char *name, const char *sql, int nparams)
{
	struct pg_statement *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(name);
	s->sql = xstrdup(sql);
	s->nparams = nparams;
	s->next = db->statements;
	db->statements = s;
	return prepare_one(db, s);
}

/* Keep the SQLSTATE and log the first line of the server's message. */
static int check_result(struct pg *db, PGresult *res, const char *what, PGresult **out)
{
	ExecStatusType st = PQresultStatus(res);
	/* No result (not sent): the session's message says why. */
	const char *message = res != NULL ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);
	const char *state;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		db->sqlstate[0] = '\0';
		if (out != NULL)
			*out = res;
		else
			PQclear(res);
		return OK;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
	if (db->first_failure[0] == '\0')
		memcpy(db->first_failure, db->sqlstate, sizeof(db->first_failure));
	if (strcmp(db->sqlstate, PG_UNIQUE_VIOLATION) == 0)
		log_debug("postgres %s: %.*s", what, (int)strcspn(message, "\n"), message);
	else
		log_error("postgres %s: %.*s", what, (int)strcspn(message, "\n"), message);
	PQclear(res);
	if (out != NULL)
		*out = NULL;
	return ERR;
}

void pg_pause_after_timeout(struct pg *db, int ms)
{
	db->timeout_pause_us = (int64_t)ms * 1000;
}

/* While paused: ERR at once, as if the statement had timed out again. */
static int paused(struct pg *db, const char *name)
{
	if (db->timeout_pause_us == 0 || clock_mono_us() >= db->paused_until_us)
		return 0;
	log_debug("postgres %s: not run, statements paused after a timeout", name);
	snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", PG_QUERY_CANCELED);
	return 1;
}

static void pause_if_timed_out(struct pg *db, const char *name)
{
	if (db->timeout_pause_us == 0 || strcmp(db->sqlstate, PG_QUERY_CANCELED) != 0)
		return;
	db->paused_until_us = clock_mono_us() + db->timeout_pause_us;
	log_warn("postgres %s: timed out; this session's statements fail at once for the next"
		 " %lld ms",
		 name, (long long)(db->timeout_pause_us / 1000));
}

static int renew(struct pg *db);

/* A statement outside a transaction that found its session cut (a
 * restarted server, an idle session killed) is run once more on a new
 * one: the project's statements outside transactions are reads or
 * idempotent writes (ON CONFLICT DO NOTHING), so running one twice is
 * harmless. Inside a transaction the work was lost with the session:
 * only the caller can start it again. */
static int run_prepared(struct pg *db, const char *name, int nparams, const char *const *values,
			const int *lengths, const int *formats, int binary, PGresult **res)
{
	PGTransactionStatusType before;
	PGresult *result;
	int status, unsent;

	if (db->conn == NULL) {
		log_error("postgres %s: not connected", name);
		return ERR;
	}
	if (paused(db, name))
		return ERR;
	before = PQtransactionStatus(db->conn);
	result = PQexecPrepared(db->conn, name, nparams, values, lengths, formats, binary);
	/* No result at all: not sent, the socket found closed before libpq
	 * marked the session bad (a server that ended it a moment ago). */
	unsent = result == NULL;
	status = check_result(db, result, name, res);
	if (status != OK && before == PQTRANS_IDLE && !db->pinned &&
	    (PQstatus(db->conn) == CONNECTION_BAD || unsent) && renew(db) == OK)
		status = check_result(
			db,
			PQexecPrepared(db->conn, name, nparams, values, lengths, formats, binary),
			name, res);
	if (status != OK)
		pause_if_timed_out(db, name);
	return status;
}

int pg_exec_prepared(struct pg *db, const char *name, int nparams, const char *const *values,
		     const int *lengths, const int *formats, PGresult **res)
{
	return run_prepared(db, name, nparams, values, lengths, formats, 0, res);
}

int pg_exec_prepared_binary(struct pg *db, const char *name, int nparams, const char *const *values,
			    PGresult **res)
{
	return run_prepared(db, name, nparams, values, NULL, NULL, 1, res);
}

int64_t pg_binary_int(const PGresult *res, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
	int len = PQgetlength(res, row, col);
	uint64_t v = 0;

	if (len != 2 && len != 4 && len != 8)
		return 0;
	for (int i = 0; i < len; i++)
		v = (v << 8) | p[i];
	/* Network order, two's complement: extend the sign of short ones. */
	if (len < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (8 * len);
	return (int64_t)v;
}

int pg_exec_params(struct pg *db, const char *sql, int nparams, const char *const *values,
		   PGresult **res)
{
	if (db->conn == NULL) {
		log_error("postgres: not connected");
		return ERR;
	}
	return check_result(db, PQexecParams(db->conn, sql, nparams, NULL, values, NULL, NULL, 0),
			    "query", res);
}

/* The plan of one prepared statement, as its next run would use it. */
static int print_plan(struct pg *db, const struct pg_statement *s, FILE *out)
{
	char *name = PQescapeIdentifier(db->conn, s->name, strlen(s->name));
	char *nulls = xcalloc((size_t)s->nparams + 1, sizeof("NULL, "));
	char *sql;
	PGresult *res;
	int status;

	if (name == NULL) {
		log_error("postgres: statement name %s: %s", s->name, PQerrorMessage(db->conn));
		free(nulls);
		return ERR;
	}
	/* The plan is generic: the values do not matter, only their number. */
	for (int i = 0; i < s->nparams; i++)
		strcat(nulls, i == 0 ? "NULL" : ", NULL");
	sql = s->nparams > 0 ? xasprintf("EXPLAIN EXECUTE %s(%s)", name, nulls)
			     : xasprintf("EXPLAIN EXECUTE %s", name);
	PQfreemem(name);
	free(nulls);
	status = check_result(db, PQexec(db->conn, sql), "explain", &res);
	free(sql);
	if (status != OK)
		return ERR;
	fprintf(out, "-- %s\n", s->name);
	for (int r = 0; r < PQntuples(res); r++)
		fprintf(out, "%s\n", PQgetvalue(res, r, 0));
	fprintf(out, "\n");
	PQclear(res);
	return OK;
}

int pg_print_plans(struct pg *db, FILE *out)
{
	const struct pg_statement *s, **oldest_first;
	size_t count = 0, i;
	int status = OK;

	if (db->conn == NULL) {
		log_error("postgres: not connected");
		return ERR;
	}
	/* In the order they were prepared: the list is newest first. */
	for (s = db->statements; s != NULL; s = s->next)
		count++;
	oldest_first = xcalloc(count + 1, sizeof(*oldest_first));
	for (s = db->statements, i = count; s != NULL; s = s->next)
		oldest_first[--i] = s;
	for (i = 0; i < count && status == OK; i++)
		status = print_plan(db, oldest_first[i], out);
	free(oldest_first);
	return status;
}

int pg_exec(struct pg *db, const char *sql)
{
	if (db->conn == NULL) {
		log_error("postgres: not connected");
		return ERR;
	}
	return check_result(db, PQexec(db->conn, sql), "statement", NULL);
}

/* A session found cut at BEGIN (a restarted server, an idle session
 * ended by idle_session_timeout or a proxy) had lost nothing yet: the
 * transaction begins on a new one, as run_prepared() runs a statement
 * outside a transaction again. Without it, the first request after a
 * quiet spell was refused although the server was there (the socket's
 * sessions are not kept busy, the Kafka loop's are). */
int pg_begin(struct pg *db)
{
	PGresult *result;
	int status, unsent;

	db->first_failure[0] = '\0';
	if (db->conn == NULL) {
		log_error("postgres begin: not connected");
		return ERR;
	}
	result = PQexec(db->conn, "BEGIN");
	unsent = result == NULL;
	status = check_result(db, result, "begin", NULL);
	if (status != OK && !db->pinned && (PQstatus(db->conn) == CONNECTION_BAD || unsent) &&
	    renew(db) == OK) {
		/* Not the new transaction's failure: the old session's end. */
		db->first_failure[0] = '\0';
		status = check_result(db, PQexec(db->conn, "BEGIN"), "begin", NULL);
	}
	return status;
}

void pg_pin_session(struct pg *db, int pinned)
{
	db->pinned = pinned;
}

/* A COMMIT sent into a transaction an earlier statement aborted is
 * answered "ROLLBACK", without an error: taken as a success, the caller
 * would acknowledge messages whose effects are gone. */
int pg_commit(struct pg *db)
{
	PGresult *res;

	if (db->conn == NULL) {
		log_error("postgres: not connected");
		return ERR;
	}
	if (check_result(db, PQexec(db->conn, "COMMIT"), "commit", &res) != OK)
		return ERR;
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		/* The code of the transaction's first failure, as if it had been
		 * noticed (the worker then judges it: an outage, or the
		 * message's fault; the 25P02 of the statements after it say
		 * nothing); 25P02 when it is not known (a statement run around
		 * this module). */
		snprintf(db->sqlstate, sizeof(db->sqlstate), "%s",
			 db->first_failure[0] != '\0' ? db->first_failure : "25P02");
		log_error("postgres commit: the transaction was rolled back (SQLSTATE %s): a"
			  " statement of it failed unnoticed",
			  db->sqlstate);
		PQclear(res);
		return ERR;
	}
	PQclear(res);
	return OK;
}

void pg_rollback(struct pg *db)
{
	PGresult *res;

	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		return;
	res = PQexec(db->conn, "ROLLBACK");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn("postgres rollback: %.*s", (int)strcspn(PQresultErrorMessage(res), "\n"),
			 PQresultErrorMessage(res));
	PQclear(res);
}

int pg_check(struct pg *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
		return OK;
	return renew(db);
}

/* A new session, with the settings and statements of the old. */
static int renew(struct pg *db)
{
	atomic_store(&db->up, 0);
	log_warn("postgres connection lost, reconnecting");
	if (db->conn != NULL)
		PQfinish(db->conn);
	if (connect_db(db) != OK)
		return ERR;
	for (struct pg_statement *s = db->statements; s != NULL; s = s->next) {
		if (prepare_one(db, s) != OK) {
			/* Not half ready: the next check starts again. */
			atomic_store(&db->up, 0);
			PQfinish(db->conn);
			db->conn = NULL;
			return ERR;
		}
	}
	db->missed_notices = db->listens != NULL;
	log_info("postgres reconnected");
	return OK;
}

int pg_ping(struct pg *db)
{
	/* libpq learns that a session was cut only when it next reads: a
	 * query finds out, and a broken connection is made again at once.
	 * One attempt to connect, not two: against a server that does not
	 * answer, each waits out connect_timeout, and the caller (a loop
	 * serving clients) with it. */
	if (pg_ping_session(db) == OK)
		return OK;
	return pg_check(db) == OK && pg_exec(db, "SELECT 1") == OK ? OK : ERR;
}

int pg_ping_session(struct pg *db)
{
	if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK &&
	    pg_exec(db, "SELECT 1") == OK)
		return OK;
	/* Down only when the session is: a statement may fail on a live
	 * one (a timeout), and only a reconnect sets it up again. */
	if (db->conn == NULL || PQstatus(db->conn) != CONNECTION_OK)
		atomic_store(&db->up, 0);
	return ERR;
}

static void *reach_main(void *arg)
{
	struct pg *db = arg;
	PGconn *conn = connect_with_defaults(db->dsn, db->serving);

	atomic_store(&db->reach_result, PQstatus(conn) == CONNECTION_OK ? 1 : 0);
	PQfinish(conn);
	return NULL;
}

int pg_probe(struct pg *db)
{
	int up;

	if (db->reach_running) {
		int reached = atomic_load(&db->reach_result);

		if (reached < 0)
			return ERR; /* still trying */
		reach_join(db);
		up = reached && pg_check(db) == OK && pg_ping_session(db) == OK;
	} else {
		up = pg_ping_session(db) == OK;
	}
	if (up)
		return OK;
	atomic_store(&db->reach_result, -1);
	if (thread_start(&db->reach_thread, reach_main, db, "postgres reach") == OK)
		db->reach_running = 1; /* else tried again at the next probe */
	return ERR;
}

int pg_is_up(struct pg *db)
{
	return atomic_load(&db->up);
}

const char *pg_sqlstate(struct pg *db)
{
	return db->sqlstate;
}
