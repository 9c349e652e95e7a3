/*
 * NAME
 *	test_pg_session.c - a session's settings, made again after a reconnect
 *
 * DESCRIPTION
 *	A daemon's sessions get the process's defaults (pg_session_default:
 *	a statement timeout for every daemon) and may set their own over
 *	them (pg_set: tpgate's serving sessions, 1 s). The session the server
 *	ends is made again with the same settings, and the one in force is
 *	the last made of each name, not the default applied after it; a
 *	transaction begun on a session the server ended begins on a new one.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "itest.h"
#include "test.h"

static const char *setting(struct pg *db, const char *name)
{
	return itest_value(db, "SELECT current_setting($1)", name);
}

static void test_own_setting_over_the_default_after_a_reconnect(void)
{
	struct pg *db, *admin = itest_db();
	char pid[16];

	REQUIRE(admin != NULL);
	REQUIRE(pg_session_default("statement_timeout", "30000") == OK);
	REQUIRE(pg_open(itest_dsn(), &db) == OK);
	CHECK_EQ_STR(setting(db, "statement_timeout"), "30s");
	CHECK(pg_set(db, "statement_timeout", "1s") == OK);
	CHECK_EQ_STR(setting(db, "statement_timeout"), "1s");
	CHECK(pg_set(db, "lock_timeout", "2s") == OK);
	snprintf(pid, sizeof(pid), "%s", itest_value(db, "SELECT pg_backend_pid()", NULL));
	/* The server ends the session; the next statement finds it out. */
	CHECK_EQ_STR(itest_value(admin, "SELECT pg_terminate_backend($1::int)", pid), "t");
	CHECK(pg_exec(db, "SELECT 1") != OK);
	CHECK(pg_check(db) == OK);
	CHECK(strcmp(itest_value(db, "SELECT pg_backend_pid()::text", NULL), pid) != 0);
	CHECK_EQ_STR(setting(db, "statement_timeout"), "1s");
	CHECK_EQ_STR(setting(db, "lock_timeout"), "2s");
	pg_close(db);
	pg_close(admin);
}

/* A session the server ended while idle: the next transaction begins
 * on a new one, nothing asked of the caller (the first request after a
 * quiet spell was refused). */
static void test_begin_after_the_session_ended(void)
{
	struct pg *db, *admin = itest_db();
	char pid[16];

	REQUIRE(admin != NULL);
	REQUIRE(pg_open(itest_dsn(), &db) == OK);
	snprintf(pid, sizeof(pid), "%s", itest_value(db, "SELECT pg_backend_pid()::text", NULL));
	CHECK_EQ_STR(itest_value(admin, "SELECT pg_terminate_backend($1::int)", pid), "t");
	/* pg_check() sees nothing: libpq learns of it at the next read. */
	CHECK(pg_check(db) == OK);
	CHECK(pg_begin(db) == OK);
	CHECK(strcmp(itest_value(db, "SELECT pg_backend_pid()::text", NULL), pid) != 0);
	CHECK(pg_commit(db) == OK);
	/* Unless the session is pinned (it holds what a new one would not:
	 * the migrator's session lock): then the caller is told. */
	pg_pin_session(db, 1);
	snprintf(pid, sizeof(pid), "%s", itest_value(db, "SELECT pg_backend_pid()::text", NULL));
	CHECK_EQ_STR(itest_value(admin, "SELECT pg_terminate_backend($1::int)", pid), "t");
	CHECK(pg_begin(db) != OK);
	pg_close(db);
	pg_close(admin);
}

int main(void)
{
	if (log_init("test_pg_session") != OK)
		return 2;
	RUN(test_own_setting_over_the_default_after_a_reconnect);
	RUN(test_begin_after_the_session_ended);
	return test_report();
}
