/*
 * NAME
 *	claimctl - the operator command of the claims backend
 *
 * SYNOPSIS
 *	claimctl COMMAND [ARGS...]
 *	claimctl --help
 *
 * DESCRIPTION
 *	One program, one subcommand per operator task, each in its own
 *	claimctl_<name>.c. This file holds the dispatch table and the
 *	settings the commands share.
 *
 * DIAGNOSTICS
 *	Exit 0 on success, 1 when the operation failed (what it printed
 *	not written included), 2 on bad usage or bad input (with one line
 *	on stderr saying what was wrong); claimctl submit --sync also 3
 *	(its --help).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/log.h"
#include "common/util.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{"migrate", cmd_migrate, "apply the SQL migrations (idempotent)"},
	{"seed", cmd_seed, "load formulas, members and professionals (--members N)"},
	{"submit", cmd_submit, "send claims (JSON) to Kafka, or --sync to the intake socket"},
	{"claim", cmd_claim,
	 "show a claim; claim redecide ID: send again one in error, partial or queued"},
	{"dlq", cmd_dlq, "dlq list|replay: dead letters of a topic"},
	{"simulate", cmd_simulate, "compute a reimbursement: request JSON on stdin"},
	{"formula", cmd_formula, "formula check FILE.json: contrat responsable rules"},
	{"bench-engine", cmd_bench_engine, "measure the rules engine's lines per second"},
	{"tp", cmd_tp, "tiers payant: keygen|register|revoke|eligibility|quote|invoice|status"},
	{"contract", cmd_contract,
	 "contract terminate|suspend|reactivate: change a member's contract"},
	{"payments", cmd_payments,
	 "payments list|export|settle|return|hold|release: what is owed, sent to the bank,"
	 " paid, given back"},
	{"check", cmd_check, "check: counters, yearly sums and payments agree with the decisions"},
	{"duplicates", cmd_duplicates, "duplicates [clear]: the same care paid under two claims"},
	{"notifications", cmd_notifications,
	 "notifications MEMBERSHIP_NUMBER: what a member was told, newest first"},
	{"outbox", cmd_outbox, "outbox refused|retry|purge: events Kafka refused; old sent ones"},
	{"quotes", cmd_quotes, "quotes purge: quotes whose validity ended long ago"},
	{NULL, NULL, NULL},
};

const char *claimctl_env(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : fallback;
}

int claimctl_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int claimctl_wants_help(int argc, char **argv)
{
	return (argc > 1 && claimctl_is_help(argv[1])) || (argc > 2 && claimctl_is_help(argv[2]));
}

const char *claimctl_operator(void)
{
	return claimctl_env("CLAIMS_OPERATOR", claimctl_env("USER", "operator"));
}

int claimctl_number_ok(const char *s, long min, long max)
{
	size_t n = strlen(s);

	return n > 0 && n <= 9 && strspn(s, "0123456789") == n && atol(s) >= min && atol(s) <= max;
}

int claimctl_reason_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 200 || !utf8_valid(s))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* printf and fputs only fill a buffer: a full disk or a closed pipe
 * shows at the flush, or not at all when a write of the buffer failed
 * before (glibc then drops what it held, and the flush that follows has
 * nothing to write and succeeds): the error flag tells. Unnoticed, a
 * truncated transfer file or result would exit 0. */
int claimctl_stdout_written(const char *who)
{
	errno = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* The error flag may come from an earlier printf, errno long
		 * since reset: no "Success" then. */
		fprintf(stderr, "%s: standard output: %s\n", who,
			errno != 0 ? strerror(errno) : "write error");
		return ERR;
	}
	return OK;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: claimctl COMMAND [ARGS...]\n\n"
		     "Operator command of the claims backend. Commands:\n");
	for (const struct command *c = commands; c->name != NULL; c++)
		fprintf(out, "  %-14s %s\n", c->name, c->summary);
	fprintf(out, "\n'claimctl COMMAND --help' describes a command and its settings.\n"
		     "Database commands read CLAIMS_PG_DSN "
		     "[" CLAIMCTL_PG_DSN "].\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (claimctl_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (log_init("claimctl") != OK)
		return EXIT_USAGE;
	for (const struct command *c = commands; c->name != NULL; c++) {
		int rc;

		if (strcmp(argv[1], c->name) != 0)
			continue;
		rc = c->run(argc - 1, argv + 1);
		/* Whatever the command printed reached its reader, or the run
		 * failed: a listing cut by a full disk is no success. (A
		 * failure was said by the command.) */
		if (rc == 0 && claimctl_stdout_written("claimctl") != OK)
			rc = 1;
		return rc;
	}
	fprintf(stderr, "claimctl: unknown command '%s' (try claimctl --help)\n", argv[1]);
	return EXIT_USAGE;
}
