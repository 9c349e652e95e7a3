/*
 * NAME
 *	claimctl.h - subcommands of the operator command
 *
 * DESCRIPTION
 *	Each subcommand is a function taking the arguments after its name
 *	(argv[0] is the subcommand) and returning the process exit status:
 *	0 success, 1 failure of the operation, 2 bad usage or bad input.
 */
#ifndef CLAIMCTL_H
#define CLAIMCTL_H

#include <stddef.h>

#include "common/status.h"
#include "proto/claims.pb-c.h"

#define EXIT_USAGE 2

/* The most a command reads from a request file or stdin. */
#define CLAIMCTL_MAX_INPUT (64u << 20)

int cmd_migrate(int argc, char **argv);
int cmd_seed(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_claim(int argc, char **argv);
int claimctl_redecide(int argc, char **argv); /* claim redecide */
int cmd_dlq(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_formula(int argc, char **argv);
int cmd_bench_engine(int argc, char **argv);
int cmd_tp(int argc, char **argv);
int cmd_contract(int argc, char **argv);
int cmd_payments(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_quotes(int argc, char **argv);
int cmd_duplicates(int argc, char **argv);
int cmd_notifications(int argc, char **argv);

/* claimctl.c: settings of the commands, with the project's loopback
 * defaults (the same as the daemons'). */
#define CLAIMCTL_PG_DSN	   "postgresql://claims@127.0.0.1:55432/claims"
#define CLAIMCTL_REDIS_URL "redis://127.0.0.1:56379"
/* The variable's value, or fallback when unset or empty. */
const char *claimctl_env(const char *name, const char *fallback);
/* True for an argument asking for a command's usage: --help or -h. */
int claimctl_is_help(const char *arg);
/* True when a command's usage is asked: COMMAND --help, or COMMAND
 * SUBCOMMAND --help (argv[0] the command). */
int claimctl_wants_help(int argc, char **argv);
/* Who runs the command, for the records that name one (the audit log,
 * payment runs): CLAIMS_OPERATOR, else $USER, else "operator". */
const char *claimctl_operator(void);
/* A whole number from min to max written in decimal digits alone (no
 * sign, no space, at most 9 digits): --days and the like. */
int claimctl_number_ok(const char *s, long min, long max);
/* An operator's reason (a hold, a duplicate cleared): text of 1 to 200
 * bytes, UTF-8 (which the database demands), no control characters to
 * break the line it is listed on. */
int claimctl_reason_ok(const char *s);
/* OK when what the command printed reached standard output whole, else
 * ERR with a line on stderr naming `who` (e.g. "claimctl payments"). */
int claimctl_stdout_written(const char *who) MUST_CHECK;

/* claimctl_payments.c: holds the payment of claim_id if it is pending
 * (as payments hold: kept from exports, with the reason and an audit
 * row naming the operator); amount gets its amount in cents, or "" when
 * it was not pending (none, sent, paid, held already). */
struct pg;
int claimctl_payment_hold(struct pg *db, const char *claim_id, const char *reason, char *amount,
			  size_t len) MUST_CHECK;

/* claimctl_submit.c: one claim line in JSON (the shape of ClaimLine);
 * strings point into the JSON document, lens holds two pointers. */
struct json_t;
int claimctl_parse_line(struct json_t *j, Claims__ClaimLine *l, char **lens, const char *where);

#endif
