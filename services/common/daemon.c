/*
 * NAME
 *	daemon.c - the skeleton every daemon's main() hands itself to
 */
#include "common/daemon.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

#define CLAIMS_VERSION "1.0.0"

/* Counted by the handler, which any thread not blocking the signals may
 * run, two at once: a lock-free atomic (async-signal-safe), so that a
 * second signal is never lost to a racing increment. */
static atomic_int stop_signals;

/* Settings of the skeleton itself, common to every daemon. CLAIMS_LOG_LEVEL
 * is read by log_init() (logging starts before any table is loaded) and
 * listed here for --help only. */
static char *log_level_setting;
static long max_step_errors = 30;
static long live_stall_seconds = 120;
static long idle_tx_seconds = 30;
static char idle_tx_ms[24]; /* its value for PostgreSQL, which outlives main's frame */
static long statement_seconds = 30;
static char statement_ms[24]; /* likewise */
static const struct config_entry daemon_config[] = {
	{"CLAIMS_LOG_LEVEL", CONFIG_STRING, &log_level_setting, "info", 0, 0,
	 "debug, info, warn or error"},
	{"CLAIMS_MAX_STEP_ERRORS", CONFIG_INT, &max_step_errors, "30", 1, 1000000,
	 "consecutive failed steps before exiting"},
	{"CLAIMS_LIVE_STALL_SECONDS", CONFIG_INT, &live_stall_seconds, "120", 5, 86400,
	 "/live answers 503 once one step of the loop has run this long"},
	{"CLAIMS_PG_IDLE_TX_SECONDS", CONFIG_INT, &idle_tx_seconds, "30", 10, 3600,
	 "PostgreSQL ends a session of this daemon idle this long inside a transaction"},
	{"CLAIMS_PG_STATEMENT_SECONDS", CONFIG_INT, &statement_seconds, "30", 1, 3600,
	 "PostgreSQL cancels a statement of this daemon running (or waiting for a lock)"
	 " this long"},
	{0},
};

static void on_stop_signal(int sig)
{
	UNUSED(sig);
	if (atomic_fetch_add(&stop_signals, 1) >= 1)
		_exit(2); /* the operator insists: leave now, Kafka redelivers */
}

int daemon_stopping(void)
{
	return atomic_load(&stop_signals) > 0;
}

void daemon_request_stop(void)
{
	int none = 0;

	atomic_compare_exchange_strong(&stop_signals, &none, 1);
}

static int install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	/* One handler at a time on a thread: SIGINT does not interrupt
	 * the handling of SIGTERM. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return ERR;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return ERR;
	return OK;
}

static void print_usage(const struct daemon_spec *spec)
{
	printf("Usage: %s [--help] [--version]%s\n\n%s\n\n", spec->name,
	       spec->prepare_all != NULL ? " [--plans]" : "", spec->summary);
	if (spec->usage != NULL)
		printf("%s\n\n", spec->usage);
	config_usage(stdout, spec->config);
	config_usage_entries(stdout, daemon_config);
	if (spec->prepare_all != NULL)
		printf("\n--plans connects to CLAIMS_PG_DSN, prepares every statement this daemon\n"
		       "runs and prints the plan PostgreSQL makes for each, then exits.\n");
	printf("\nSignals: SIGTERM/SIGINT finish the work in flight, commit and exit 0;\n"
	       "a second signal exits at once (status 2). Logs: JSON lines on stderr.\n");
}

static int parse_options(int argc, char **argv, const struct daemon_spec *spec, int *exit_now,
			 int *plans)
{
	*exit_now = 0;
	*plans = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			print_usage(spec);
			*exit_now = 1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", spec->name, CLAIMS_VERSION);
			*exit_now = 1;
		} else if (strcmp(argv[i], "--plans") == 0 && spec->prepare_all != NULL) {
			*plans = 1;
		} else {
			fprintf(stderr, "%s: unknown option %s (try --help)\n", spec->name,
				argv[i]);
			return ERR;
		}
	}
	return OK;
}

static int run_loop(const struct daemon_spec *spec)
{
	long failures = 0, limit = max_step_errors;

	while (!daemon_stopping()) {
		int status;

		metrics_step_begin();
		status = spec->step(spec->ctx);
		metrics_step_end();
		if (status == OK) {
			failures = 0;
			continue;
		}
		if (++failures >= limit) {
			log_error("%ld consecutive failed steps, exiting", failures);
			return ERR;
		}
		/* back off 50 ms, 100 ms, ... up to 1 s */
		usleep((useconds_t)(failures < 20 ? failures * 50000 : 1000000));
	}
	return OK;
}

/* --plans: the statements of every session of the daemon, on one. */
static int print_plans(const struct daemon_spec *spec)
{
	struct pg *db;
	int status;

	if (pg_open(*spec->pg_dsn, &db) != OK)
		return ERR;
	status = spec->prepare_all(db) == OK && pg_print_plans(db, stdout) == OK ? OK : ERR;
	pg_close(db);
	if (fflush(stdout) != 0)
		status = ERR;
	return status;
}

int daemon_main(int argc, char **argv, const struct daemon_spec *spec)
{
	int exit_now, plans, status, bad_settings;

	if (parse_options(argc, argv, spec, &exit_now, &plans) != OK)
		return 2;
	if (exit_now)
		return 0;
	if (log_init(spec->name) != OK)
		return 2;
	/* Both tables, whatever the first says: every bad setting is named
	 * at once, not one per attempt to start. */
	bad_settings = config_load(daemon_config) != OK;
	if (config_load(spec->config) != OK || bad_settings)
		return 2;
	if (spec->metrics_addr != NULL && metrics_addr_check(*spec->metrics_addr) != OK) {
		log_error("CLAIMS_METRICS_ADDR: expected an IPv4 host:port, or empty, not \"%s\"",
			  *spec->metrics_addr);
		return 2;
	}
	metrics_set_live_limit(live_stall_seconds);
	/* A daemon's statements are prepared once and run with a generic
	 * plan (plan_cache_mode, below), made at their first run from the statistics of that
	 * moment and kept for the session. Made on a new database, such a
	 * plan scans the claims tables whole (they are empty), and goes on
	 * scanning them, millions of rows later, until autovacuum next
	 * analyzes them. Every statement of the daemons has its index.
	 * (claimctl keeps the default: its queries are not prepared, so each
	 * is planned when it runs, with the statistics of that moment.) */
	if (pg_session_default("enable_seqscan", "off") != OK)
		return 2;
	/* Every statement of a daemon is prepared once and run many times
	 * with arrays or keys as parameters: a custom plan per execution
	 * would re-plan each time (a fifth of a millisecond for the small
	 * lookups) for plans that never change. Not claimctl's: the mode
	 * applies to unnamed statements too, and its queries' optional
	 * filters ("$2 IS NULL OR m.membership_number = $2") are folded
	 * only in a plan made with the values: a generic one read every
	 * decision to check one member (seconds on millions of claims). */
	if (pg_session_default("plan_cache_mode", "force_generic_plan") != OK)
		return 2;
	/* A daemon's transaction never waits on anything but its own
	 * statements and, for the relay, Kafka's answer (5 s at most). One
	 * left idle is a process frozen or cut off by the network, whose
	 * locks (a batch's claims, beneficiaries, submission keys) would hold
	 * every other replica up until its TCP connection is found dead,
	 * hours later: the server ends it instead, and the frozen process,
	 * if it comes back, finds its batch undone and reads it again. */
	snprintf(idle_tx_ms, sizeof(idle_tx_ms), "%ld", idle_tx_seconds * 1000);
	if (pg_session_default("idle_in_transaction_session_timeout", idle_tx_ms) != OK)
		return 2;
	/* A batch's statements take milliseconds. One waiting behind a lock
	 * (a migration's, an operator's transaction left open) would stop
	 * the loop, and with it the polling that keeps the worker in its
	 * group (max.poll.interval.ms, 60 s): cancelled instead, an outage
	 * (SQLSTATE 57014) whose batch is read again after a back-off,
	 * polling meanwhile. tpgate's serving sessions set their own, 1 s. */
	snprintf(statement_ms, sizeof(statement_ms), "%ld", statement_seconds * 1000);
	if (pg_session_default("statement_timeout", statement_ms) != OK)
		return 2;
	if (plans) {
		status = print_plans(spec);
		config_free(spec->config);
		config_free(daemon_config);
		return status == OK ? 0 : 1;
	}
	if (install_signals() != OK) {
		log_error("cannot install signal handlers");
		return 1;
	}
	if (spec->init(spec->ctx) != OK) {
		log_error("start-up failed");
		/* What did start (a consumer that joined its group, a
		 * thread) is stopped: the group is left at once, not after
		 * its session times out. */
		spec->cleanup(spec->ctx);
		return 1;
	}
	if (spec->metrics_addr != NULL &&
	    metrics_http_start(*spec->metrics_addr, spec->health, spec->ctx) != OK) {
		spec->cleanup(spec->ctx);
		return 1;
	}
	log_info("started (pid %d)", (int)getpid());
	status = run_loop(spec);
	log_info("stopping: finishing work in flight");
	if (spec->drain != NULL && spec->drain(spec->ctx) != OK)
		status = ERR;
	metrics_http_stop();
	spec->cleanup(spec->ctx);
	config_free(spec->config);
	config_free(daemon_config);
	log_info("stopped %s", status == OK ? "cleanly" : "after an error");
	return status == OK ? 0 : 1;
}
