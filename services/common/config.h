/*
 * NAME
 *	config.h - configuration from environment variables, as a table
 *
 * SYNOPSIS
 *	static struct { char *pg_dsn; long batch; } cfg;
 *	static const struct config_entry table[] = {
 *		CONFIG_PG_DSN(&cfg.pg_dsn),
 *		{ "CLAIMS_BATCH", CONFIG_INT, &cfg.batch, "500", 1, 10000,
 *		  "messages per transaction" },
 *		{ 0 }
 *	};
 *	if (config_load(table) != OK) ...
 *
 * DESCRIPTION
 *	After PgBouncer: each setting is declared once with its name, type,
 *	default, bounds and help. config_load() fills the targets from the
 *	environment or the defaults and rejects out-of-range values naming
 *	the variable; config_usage() prints the table for --help, so the
 *	documentation of the settings cannot drift from the code.
 *
 * DIAGNOSTICS
 *	config_load() returns ERR after logging every bad variable.
 */
#ifndef COMMON_CONFIG_H
#define COMMON_CONFIG_H

#include <stdio.h>

#include "common/status.h"

enum config_type { CONFIG_STRING, CONFIG_INT, CONFIG_BOOL };

struct config_entry {
	const char *env;
	enum config_type type;
	void *target; /* char **, long *, or int * (bool) */
	const char *default_value;
	long min, max; /* bounds for CONFIG_INT */
	const char *help;
};

/* Settings shared by several daemons, with the project's loopback defaults. */
/* clang-format off */
#define CONFIG_PG_DSN(target)                                                     \
	{ "CLAIMS_PG_DSN", CONFIG_STRING, (target),                               \
	  "postgresql://claims@127.0.0.1:55432/claims", 0, 0,                     \
	  "PostgreSQL connection string (libpq URI or key=value)" }
#define CONFIG_REDIS_URL(target)                                                  \
	{ "CLAIMS_REDIS_URL", CONFIG_STRING, (target), "redis://127.0.0.1:56379", \
	  0, 0, "Redis server, redis://[[user]:password@]host:port[/db]" }
#define CONFIG_KAFKA_BROKERS(target)                                              \
	{ "CLAIMS_KAFKA_BROKERS", CONFIG_STRING, (target), "127.0.0.1:59092", 0,  \
	  0, "Kafka bootstrap servers, host:port[,host:port]" }
#define CONFIG_METRICS_ADDR(target, default_addr)                                 \
	{ "CLAIMS_METRICS_ADDR", CONFIG_STRING, (target), (default_addr), 0, 0,   \
	  "host:port of the /metrics and /health HTTP endpoint; empty: off" }
/* clang-format on */

int config_load(const struct config_entry *table) MUST_CHECK;
void config_usage(FILE *out, const struct config_entry *table);
/* The lines of config_usage() without its heading, for a second table. */
void config_usage_entries(FILE *out, const struct config_entry *table);
void config_free(const struct config_entry *table);

#endif
