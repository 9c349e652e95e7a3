/*
 * NAME
 *	itest.h - shared set-up of the integration tests
 *
 * DESCRIPTION
 *	Integration tests talk to the real PostgreSQL, Redis and Kafka that
 *	tools/infra/infra.sh started; their addresses come from the same
 *	environment variables as the daemons' (tests/run.sh exports them).
 *	The schema is brought up to date before each program.
 */
#ifndef TESTS_ITEST_H
#define TESTS_ITEST_H

#include <stdio.h>
#include <stdlib.h>

#include "common/migrate.h"
#include "common/pg.h"

static inline const char *itest_env(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

static inline const char *itest_dsn(void)
{
	return itest_env("CLAIMS_PG_DSN", "postgresql://claims@127.0.0.1:55432/claims");
}

static inline const char *itest_brokers(void)
{
	return itest_env("CLAIMS_KAFKA_BROKERS", "127.0.0.1:59092");
}

static inline const char *itest_redis(void)
{
	return itest_env("CLAIMS_REDIS_URL", "redis://127.0.0.1:56379");
}

/* Connect and migrate; NULL when the database is not there. */
static inline struct pg *itest_db(void)
{
	struct pg *db;
	int applied;

	if (pg_open(itest_dsn(), &db) != OK)
		return NULL;
	if (migrate_apply(db, "deploy/sql", 0, &applied) != OK) {
		pg_close(db);
		return NULL;
	}
	return db;
}

/* The first value of a query with at most one text parameter, for
 * CHECK_EQ_STR; "(query failed)" or "(no row)" otherwise. The text lives
 * until the next call. */
static inline const char *itest_value(struct pg *db, const char *sql, const char *param)
{
	static char value[256];
	const char *values[1] = {param};
	PGresult *res;

	snprintf(value, sizeof(value), "(query failed)");
	if (pg_exec_params(db, sql, param != NULL ? 1 : 0, values, &res) != OK)
		return value;
	snprintf(value, sizeof(value), "%s",
		 PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "(no row)");
	PQclear(res);
	return value;
}

#endif
