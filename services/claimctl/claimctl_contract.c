/*
 * NAME
 *	claimctl_contract.c - claimctl contract: change a member's contract
 *
 * SYNOPSIS
 *	claimctl contract terminate --member NUMBER --end-date YYYY-MM-DD [--reason TEXT]
 *	claimctl contract suspend --member NUMBER [--from YYYY-MM-DD]
 *	claimctl contract reactivate --member NUMBER
 *
 * DESCRIPTION
 *	Acts on the member's contract in force today, else the one that
 *	started last. The change and its
 *	contracts.changed event (ContractChanged, keyed by contract id) are
 *	committed in one transaction: the event leaves through the outbox
 *	like every other, and whoever caches contract data (the tiers-payant
 *	front door) drops its copy when it reads the event. The cached
 *	rights in Redis are also dropped at once, so that the next
 *	ELIGIBILITY sees the change without waiting for the event.
 *
 *	A termination (résiliation) sets the end date (exclusive): care on
 *	or after it is no longer covered; claims for earlier care still are.
 *	A suspension (unpaid dues) refuses care from its first day (--from,
 *	today by default) until reactivated; care before that day stays
 *	covered. Suspending a suspended contract again with --from sets its
 *	first day anew (a date mistyped is mended so); without, it keeps it
 *	(a retried command does not move it to today). `reactivate` lifts a
 *	suspension only, clears its day, and gives back what the
 *	contract was: terminated (with its end date) if it had been
 *	terminated meanwhile or before, active otherwise. A contract that is
 *	not suspended is left as it is (exit 1).
 *
 *	Settings: CLAIMS_PG_DSN, CLAIMS_REDIS_URL.
 *
 * DIAGNOSTICS
 *	Exit 1 when the member has no contract or the database refuses the
 *	change (e.g. an end date before the start); 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/redis_conn.h"
#include "common/tpkeys.h"
#include "common/util.h"
#include "proto/member.pb-c.h"

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl contract terminate --member NUMBER --end-date YYYY-MM-DD"
		     " [--reason TEXT]\n"
		     "       claimctl contract suspend --member NUMBER [--from YYYY-MM-DD]\n"
		     "       claimctl contract reactivate --member NUMBER\n"
		     "Settings: CLAIMS_PG_DSN, CLAIMS_REDIS_URL.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

/* A member's contract a command acts on: the one in force today, else
 * the one that started last (one id breaking a tie): a renewal that
 * starts next month is not the one suspended today. */
#define CONTRACT_ORDER(c)                                                               \
	" ORDER BY (" c ".start_date <= current_date AND (" c ".end_date IS NULL OR " c \
	".end_date > current_date)) DESC, " c ".start_date DESC, " c ".contract_id DESC"

/* clang-format off */
static const char sql_change[] =
	"UPDATE contracts c SET"
	" status = CASE"
	"  WHEN $2 = 'suspend' OR c.status = 'suspended' AND $2 = 'terminate' THEN 'suspended'"
	"  WHEN $2 = 'terminate' OR c.terminated_at IS NOT NULL"
	"   OR c.termination_reason IS NOT NULL THEN 'terminated'"
	"  ELSE 'active' END,"
	" end_date = CASE $2 WHEN 'terminate' THEN $3::date ELSE c.end_date END,"
	" termination_reason = CASE $2 WHEN 'terminate' THEN $4 ELSE c.termination_reason END,"
	" terminated_at = CASE $2 WHEN 'terminate' THEN now() ELSE c.terminated_at END,"
	/* Suspended again without --from (a retried script, a second
	 * operator), the first day stays (no day: none): only --from moves it. */
	" suspended_from = CASE $2 WHEN 'suspend' THEN CASE WHEN $5::date IS NOT NULL THEN $5::date"
	"   WHEN c.status = 'suspended' THEN c.suspended_from ELSE current_date END"
	"  WHEN 'reactivate' THEN NULL ELSE c.suspended_from END"
	" WHERE c.contract_id = (SELECT c2.contract_id FROM contracts c2"
	"  JOIN members m ON m.member_id = c2.member_id"
	"  WHERE m.membership_number = $1" CONTRACT_ORDER("c2") " LIMIT 1)"
	" AND ($2 <> 'reactivate' OR c.status = 'suspended')"
	" RETURNING c.contract_id, c.status, coalesce(c.end_date::text, ''),"
	" coalesce(c.suspended_from::text, '')";

static const char sql_status[] =
	"SELECT c.status FROM contracts c JOIN members m ON m.member_id = c.member_id"
	" WHERE m.membership_number = $1" CONTRACT_ORDER("c") " LIMIT 1";
/* clang-format on */

/* Why no contract changed: none, or (reactivate) one not suspended. */
static int nothing_changed(struct pg *db, const char *member)
{
	const char *v[1] = {member};
	PGresult *res;

	if (pg_exec_params(db, sql_status, 1, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 0)
		fprintf(stderr, "claimctl contract: member %s has no contract\n", member);
	else
		fprintf(stderr,
			"claimctl contract: the contract of member %s is %s; reactivate lifts a"
			" suspension only (a termination is never undone by it)\n",
			member, PQgetvalue(res, 0, 0));
	PQclear(res);
	return ERR;
}

/* The change and its event; `said` gets the line to print once committed. */
static int apply(struct pg *db, const char *const v[5], const char *change, char *contract,
		 size_t len, char *said, size_t said_len)
{
	Claims__ContractChanged ev = CLAIMS__CONTRACT_CHANGED__INIT;
	PGresult *res;
	int status;

	if (pg_exec_params(db, sql_change, 5, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return nothing_changed(db, v[0]);
	}
	snprintf(contract, len, "%s", PQgetvalue(res, 0, 0));
	ev.has_contract_id = 1;
	ev.contract_id = strtoll(contract, NULL, 10);
	ev.change = (char *)change;
	/* The day the change takes effect: a suspension's first day, else
	 * the end date (when there is one). */
	ev.effective_date = strcmp(v[1], "suspend") == 0 ? PQgetvalue(res, 0, 3)
			    : PQgetvalue(res, 0, 2)[0]	 ? PQgetvalue(res, 0, 2)
							 : NULL;
	ev.membership_number = (char *)v[0];
	status = outbox_add(db, "contracts.changed", contract,
			    CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED, &ev.base, NULL, "claimctl");
	snprintf(said, said_len, "contract %s of member %s: %s%s%s%s%s", contract, v[0],
		 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 3)[0] ? " from " : "",
		 PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 2)[0] ? " until " : "",
		 PQgetvalue(res, 0, 2));
	PQclear(res);
	return status;
}

static void drop_cached_rights(const char *member)
{
	struct redis_conn *r;

	if (redis_open(claimctl_env("CLAIMS_REDIS_URL", CLAIMCTL_REDIS_URL), 0, &r) != OK) {
		log_warn("cached rights of %s left to the contracts.changed event", member);
		return;
	}
	if (tp_rights_drop(r, member) != OK)
		log_warn("cached rights of %s left to the contracts.changed event", member);
	redis_close(r);
}

int cmd_contract(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "", *member = NULL, *end = NULL, *reason = NULL,
		   *from = NULL;
	const char *changes[][2] = {{"terminate", "terminated"},
				    {"suspend", "suspended"},
				    {"reactivate", "reactivated"}};
	const char *change = NULL;
	char contract[32], said[256] = "";
	struct pg *db;
	int32_t day;
	int status;

	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		return usage_on(stdout);
	/* Options go in pairs: a lone word (a value forgotten, a stray
	 * argument) is refused, not dropped. */
	if (argc < 2 || argc % 2 != 0)
		return usage();
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--member") == 0)
			member = argv[i + 1];
		else if (strcmp(argv[i], "--end-date") == 0)
			end = argv[i + 1];
		else if (strcmp(argv[i], "--reason") == 0)
			reason = argv[i + 1];
		else if (strcmp(argv[i], "--from") == 0)
			from = argv[i + 1];
		else
			return usage();
	}
	for (size_t k = 0; k < 3; k++)
		if (strcmp(sub, changes[k][0]) == 0)
			change = changes[k][1];
	/* --end-date and --reason are terminate's, --from suspend's:
	 * elsewhere they would be ignored, and the operator believe them
	 * applied. */
	if (change == NULL || member == NULL ||
	    (strcmp(sub, "terminate") == 0 && (end == NULL || date_parse(end, &day) != OK)) ||
	    (strcmp(sub, "terminate") != 0 && (end != NULL || reason != NULL)) ||
	    (from != NULL && (strcmp(sub, "suspend") != 0 || date_parse(from, &day) != OK)))
		return usage();
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	if (outbox_prepare(db) != OK) {
		pg_close(db);
		return 1;
	}
	{
		const char *v[5] = {member, sub, end, reason ? reason : "résiliation", from};

		status = pg_begin(db);
		if (status == OK && (status = apply(db, v, change, contract, sizeof(contract), said,
						    sizeof(said))) == OK)
			status = pg_commit(db);
		if (status != OK)
			pg_rollback(db);
	}
	pg_close(db);
	if (status == OK)
		printf("%s\n", said);
	if (status == OK)
		drop_cached_rights(member);
	return status == OK ? 0 : 1;
}
