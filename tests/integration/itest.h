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
	if (migrate_apply(db, "deploy/sql", &applied) != OK) {
		pg_close(db);
		return NULL;
	}
	return db;
}

#endif
