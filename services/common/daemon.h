/*
 * NAME
 *	daemon.h - the skeleton every daemon's main() hands itself to
 *
 * SYNOPSIS
 *	static const struct daemon_spec spec = {
 *		.name = "intake", .summary = "...", .config = config_table,
 *		.metrics_addr = &cfg.metrics_addr,
 *		.init = intake_init, .step = intake_step,
 *		.drain = intake_drain, .cleanup = intake_cleanup,
 *		.health = intake_health, .ctx = &state,
 *	};
 *	int main(int argc, char **argv) { return daemon_main(argc, argv, &spec); }
 *
 * DESCRIPTION
 *	After Postfix's single_server_main(): options, configuration,
 *	signals, the metrics endpoint and the loop live here once.
 *
 *	daemon_main() handles --help (the summary and the configuration
 *	table), --version and --plans (connects, prepares every statement
 *	of the daemon and prints the plan PostgreSQL makes for each, then
 *	exits: for operators checking a database, and for the tests that
 *	no statement scans a growing table whole), loads the configuration,
 *	calls init(), then calls step() until a stop is asked. step() does
 *	one bounded unit of work and must return within about a second (it
 *	polls with a timeout), so a stop request is seen promptly.
 *
 *	Signals become loop events; handlers only set flags. The first
 *	SIGTERM or SIGINT asks for a graceful stop: the loop ends after the
 *	current step, drain() finishes the work in flight and commits, and
 *	the process exits 0. A second signal exits at once with status 2.
 *
 * DIAGNOSTICS
 *	init() failing exits 1. A step() failing is logged by the step
 *	itself; after CLAIMS_MAX_STEP_ERRORS consecutive failures the daemon
 *	exits 1, trusting its supervisor to restart it (a worker that cannot
 *	reach its database should not pretend to be alive). Between failures
 *	it backs off, up to a second.
 */
#ifndef COMMON_DAEMON_H
#define COMMON_DAEMON_H

#include "common/config.h"
#include "common/metrics.h"
#include "common/pg.h"
#include "common/status.h"

struct daemon_spec {
	const char *name;
	const char *summary;
	const char *usage; /* extra paragraphs for --help, or NULL */
	const struct config_entry *config;
	char *const *metrics_addr; /* points at the config field, may be NULL */
	int (*init)(void *ctx);
	int (*step)(void *ctx);
	int (*drain)(void *ctx);
	void (*cleanup)(void *ctx);
	health_fn health;
	void *ctx;
	/* For --plans: the database setting, and a function preparing on
	 * one session every statement the daemon's sessions prepare. */
	char *const *pg_dsn;
	int (*prepare_all)(struct pg *db);
};

int daemon_main(int argc, char **argv, const struct daemon_spec *spec);

/* 1 once a stop has been asked; long steps check it to cut short. */
int daemon_stopping(void);

/* Ask the loop to stop, as SIGTERM would (tests, fatal conditions). */
void daemon_request_stop(void);

#endif
