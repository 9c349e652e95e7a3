/*
 * NAME
 *	claimctl_contract.c - claimctl contract: change a member's contract
 *
 * SYNOPSIS
 *	claimctl contract terminate --member NUMBER --end-date YYYY-MM-DD [--reason TEXT]
 *	                            [--extend]
 *	claimctl contract suspend --member NUMBER [--from YYYY-MM-DD]
 *	claimctl contract reactivate --member NUMBER
 *
 * DESCRIPTION
 *	Acts on the member's contract in force today, else the one that
 *	started last. The change, its audit_log row and its
 *	contracts.changed event (ContractChanged, keyed by contract id) are
 *	committed in one transaction, the contract's row locked from the
 *	first read: the event leaves through the outbox like every other,
 *	and whoever caches contract data (the tiers-payant front door)
 *	drops its copy when it reads the event. The cached rights in Redis
 *	are also dropped at once, so that the next ELIGIBILITY sees the
 *	change without waiting for the event.
 *
 *	A termination (résiliation) sets the end date (exclusive): care on
 *	or after it is no longer covered; claims for earlier care still are.
 *	Terminating a terminated contract again may bring its end date
 *	earlier (a death recorded after a résiliation), never later unless
 *	--extend says so: a later date re-opens cover for the days between,
 *	which intake would accept and the workers pay, so a script retried
 *	with an older date or a second operator must not do it unawares.
 *	The recorded reason is kept unless --reason gives one (résiliation
 *	when there never was one), and terminated_at keeps the moment of
 *	the first termination.
 *
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
 *	Each change writes one audit_log row: actor CLAIMS_OPERATOR (else
 *	$USER), action the subcommand, entity 'contract', entity_id the
 *	contract id, detail {"member", "before", "after"}, the last two
 *	with the contract's status, end_date, termination_reason and
 *	suspended_from.
 *
 *	Settings: CLAIMS_PG_DSN, CLAIMS_REDIS_URL; CLAIMS_OPERATOR (default
 *	$USER) names the operator in the audit log.
 *
 * DIAGNOSTICS
 *	One line on stdout once the change is committed. Exit 1, nothing
 *	changed, when the member has no contract, when terminate would move
 *	an end date later without --extend (the current one is named),
 *	when reactivate finds the contract not suspended, or when the
 *	database refuses the change (logged); 2 on bad usage. When the
 *	COMMIT's answer is lost its outcome is unknown: the command says
 *	so and exits 1; running it again is safe (a change made twice is
 *	the same change; a reactivate made already is refused as not
 *	suspended). When Redis cannot be reached the change stands (exit 0)
 *	and stderr says that the cached rights were left to the
 *	contracts.changed event, which drops them once the front doors read
 *	it (seconds while they run; CLAIMS_TP_RIGHTS_TTL at most).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/redis_conn.h"
#include "common/tpkeys.h"
#include "common/util.h"
#include "proto/member.pb-c.h"

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl contract terminate --member NUMBER --end-date YYYY-MM-DD"
		     " [--reason TEXT] [--extend]\n"
		     "       claimctl contract suspend --member NUMBER [--from YYYY-MM-DD]\n"
		     "       claimctl contract reactivate --member NUMBER\n"
		     "terminate never moves an end date later without --extend; the reason\n"
		     "recorded is kept unless --reason is given. Each change is audited.\n"
		     "Settings: CLAIMS_PG_DSN, CLAIMS_REDIS_URL; CLAIMS_OPERATOR [$USER] for the"
		     " audit log.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

/* What the operator asked. */
struct request {
	const char *sub, *change; /* "terminate", "terminated" */
	const char *member, *end, *reason, *from;
	int extend;
};

/* A member's contract a command acts on: the one in force today, else
 * the one that started last (one id breaking a tie): a renewal that
 * starts next month is not the one suspended today. */
#define CONTRACT_ORDER(c)                                                               \
	" ORDER BY (" c ".start_date <= current_date AND (" c ".end_date IS NULL OR " c \
	".end_date > current_date)) DESC, " c ".start_date DESC, " c ".contract_id DESC"

/* clang-format off */
/* The contract, locked until the commit: a second command on it waits,
 * then reads what the first made of it. */
static const char sql_pick[] =
	"SELECT c.contract_id, c.status, c.start_date::text, coalesce(c.end_date::text, '')"
	" FROM contracts c JOIN members m ON m.member_id = c.member_id"
	" WHERE m.membership_number = $1" CONTRACT_ORDER("c") " LIMIT 1 FOR UPDATE OF c";

/* What the audit log keeps of a contract, before and after. */
#define STATE(t)                                                                  \
	"jsonb_build_object('status', " t ".status, 'end_date', " t ".end_date,"   \
	" 'termination_reason', " t ".termination_reason,"                         \
	" 'suspended_from', " t ".suspended_from)"

/* One change of contract $1 and its audit row ($2 the operator, $3 the
 * member): the statement's two reads of the row see it as it was
 * before (one snapshot), the row being locked since sql_pick. */
#define CHANGE(action, set)                                                            \
	"WITH was AS (SELECT * FROM contracts WHERE contract_id = $1::bigint),"         \
	" became AS (UPDATE contracts c SET " set                                       \
	"  WHERE c.contract_id = $1::bigint RETURNING c.*),"                            \
	" audit AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"   \
	"  SELECT $2, '" action "', 'contract', became.contract_id::text,"              \
	"   jsonb_build_object('member', $3::text, 'before', " STATE("was") ","         \
	"    'after', " STATE("became") ")"                                             \
	"  FROM was JOIN became USING (contract_id))"                                   \
	" SELECT became.status, coalesce(became.end_date::text, ''),"                   \
	"  coalesce(became.suspended_from::text, '') FROM became"

/* $4 the end date, $5 the reason or NULL. A suspended contract stays
 * suspended (reactivate gives back the termination). */
static const char sql_terminate[] = CHANGE("terminate",
	"status = CASE c.status WHEN 'suspended' THEN 'suspended' ELSE 'terminated' END,"
	" end_date = $4::date,"
	" termination_reason = coalesce($5::text, c.termination_reason, 'résiliation'),"
	" terminated_at = coalesce(c.terminated_at, now())");

/* $4 the first day or NULL. Suspended again without --from (a retried
 * script, a second operator), the first day stays (no day: none): only
 * --from moves it. */
static const char sql_suspend[] = CHANGE("suspend",
	"status = 'suspended',"
	" suspended_from = CASE WHEN $4::date IS NOT NULL THEN $4::date"
	"  WHEN c.status = 'suspended' THEN c.suspended_from ELSE current_date END");

static const char sql_reactivate[] = CHANGE("reactivate",
	"status = CASE WHEN c.terminated_at IS NOT NULL OR c.termination_reason IS NOT NULL"
	"  THEN 'terminated' ELSE 'active' END,"
	" suspended_from = NULL");
/* clang-format on */

enum { K_ID, K_STATUS, K_START, K_END };
enum { C_STATUS, C_END, C_SUSPENDED_FROM };

/* What a committed change prints. */
struct outcome {
	char contract[24];
	char said[256];
};

/* The contract to change, locked; ERR (said why when *refused) when
 * there is none or it cannot take the change. */
static int pick(struct pg *db, const struct request *rq, PGresult **out, int *refused)
{
	const char *v[1] = {rq->member};

	if (pg_exec_params(db, sql_pick, 1, v, out) != OK)
		return ERR;
	if (PQntuples(*out) == 0) {
		fprintf(stderr, "claimctl contract: member %s has no contract\n", rq->member);
		*refused = 1;
		return ERR;
	}
	if (strcmp(rq->sub, "reactivate") == 0 &&
	    strcmp(PQgetvalue(*out, 0, K_STATUS), "suspended") != 0) {
		fprintf(stderr,
			"claimctl contract: contract %s of member %s is %s; reactivate lifts a"
			" suspension only (a termination is never undone by it)\n",
			PQgetvalue(*out, 0, K_ID), rq->member, PQgetvalue(*out, 0, K_STATUS));
		*refused = 1;
		return ERR;
	}
	return OK;
}

/* A termination's end date, checked against the contract: never later
 * than the one it has, unless --extend. */
static int end_date_ok(const struct request *rq, const PGresult *k, int *refused)
{
	const char *now_ends = PQgetvalue(k, 0, K_END);
	int32_t asked, current;

	if (now_ends[0] == '\0' || rq->extend)
		return OK;
	if (date_parse(rq->end, &asked) != OK || date_parse(now_ends, &current) != OK)
		return ERR; /* checked at parse time; ISO from the server */
	if (asked <= current)
		return OK;
	fprintf(stderr,
		"claimctl contract: contract %s of member %s already ends on %s; an end date"
		" of %s would cover the days between again (care accepted and paid): give"
		" --extend if that is meant\n",
		PQgetvalue(k, 0, K_ID), rq->member, now_ends, rq->end);
	*refused = 1;
	return ERR;
}

/* The change, its audit row and its event, in the caller's transaction. */
static int apply(struct pg *db, const struct request *rq, struct outcome *o, int *refused)
{
	Claims__ContractChanged ev = CLAIMS__CONTRACT_CHANGED__INIT;
	const char *actor = claimctl_operator(), *sql;
	const char *v[5];
	char *until, *from;
	PGresult *k = NULL, *res = NULL;
	int n = 3, status = ERR;

	if (pick(db, rq, &k, refused) != OK)
		goto done;
	snprintf(o->contract, sizeof(o->contract), "%s", PQgetvalue(k, 0, K_ID));
	v[0] = o->contract;
	v[1] = actor;
	v[2] = rq->member;
	if (strcmp(rq->sub, "terminate") == 0) {
		if (end_date_ok(rq, k, refused) != OK)
			goto done;
		sql = sql_terminate;
		v[n++] = rq->end;
		v[n++] = rq->reason;
	} else if (strcmp(rq->sub, "suspend") == 0) {
		sql = sql_suspend;
		v[n++] = rq->from;
	} else {
		sql = sql_reactivate;
	}
	if (pg_exec_params(db, sql, n, v, &res) != OK || PQntuples(res) != 1)
		goto done;
	until = PQgetvalue(res, 0, C_END);
	from = PQgetvalue(res, 0, C_SUSPENDED_FROM);
	ev.has_contract_id = 1;
	ev.contract_id = strtoll(o->contract, NULL, 10);
	ev.change = (char *)rq->change;
	/* The day the change takes effect: a suspension's first day, else
	 * the end date (when there is one). */
	ev.effective_date = strcmp(rq->sub, "suspend") == 0 ? from : until;
	if (ev.effective_date[0] == '\0')
		ev.effective_date = NULL;
	ev.membership_number = (char *)rq->member;
	status = outbox_add(db, "contracts.changed", o->contract,
			    CLAIMS__MESSAGE_TYPE__CONTRACT_CHANGED, &ev.base, NULL, "claimctl");
	snprintf(o->said, sizeof(o->said), "contract %s of member %s: %s%s%s%s%s", o->contract,
		 rq->member, PQgetvalue(res, 0, C_STATUS), from[0] ? " from " : "", from,
		 until[0] ? " until " : "", until);
done:
	PQclear(res);
	PQclear(k);
	return status;
}

/* After the commit: the change stands whatever Redis says. */
static void drop_cached_rights(const char *member)
{
	struct redis_conn *r;
	int status;

	status = redis_open(claimctl_env("CLAIMS_REDIS_URL", CLAIMCTL_REDIS_URL), 0, &r);
	if (status == OK) {
		status = tp_rights_drop(r, member);
		redis_close(r);
	}
	if (status != OK)
		fprintf(stderr,
			"claimctl contract: the change is committed, but Redis could not be"
			" reached to drop the cached rights of member %s: the front doors drop"
			" them when they read the change's contracts.changed event (within"
			" seconds while they run; after CLAIMS_TP_RIGHTS_TTL at most)\n",
			member);
}

/* The options, checked; ERR on bad usage. Options take a value, but
 * --extend: a lone word (a value forgotten, a stray argument) is
 * refused, not dropped, and a value is never the next option. */
static int parse(int argc, char **argv, struct request *rq)
{
	const char *changes[][2] = {{"terminate", "terminated"},
				    {"suspend", "suspended"},
				    {"reactivate", "reactivated"}};
	int terminate;
	int32_t day;

	for (size_t k = 0; k < 3; k++)
		if (strcmp(rq->sub, changes[k][0]) == 0)
			rq->change = changes[k][1];
	for (int i = 2; i < argc; i++) {
		const char **slot;

		if (strcmp(argv[i], "--extend") == 0) {
			rq->extend = 1;
			continue;
		}
		if (strcmp(argv[i], "--member") == 0)
			slot = &rq->member;
		else if (strcmp(argv[i], "--end-date") == 0)
			slot = &rq->end;
		else if (strcmp(argv[i], "--reason") == 0)
			slot = &rq->reason;
		else if (strcmp(argv[i], "--from") == 0)
			slot = &rq->from;
		else
			return ERR;
		if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
			return ERR;
		*slot = argv[++i];
	}
	terminate = rq->change != NULL && strcmp(rq->sub, "terminate") == 0;
	/* --end-date, --reason and --extend are terminate's, --from
	 * suspend's: elsewhere they would be ignored, and the operator
	 * believe them applied. */
	if (rq->change == NULL || rq->member == NULL ||
	    (terminate && (rq->end == NULL || date_parse(rq->end, &day) != OK)) ||
	    (!terminate && (rq->end != NULL || rq->reason != NULL || rq->extend)) ||
	    (rq->from != NULL &&
	     (strcmp(rq->sub, "suspend") != 0 || date_parse(rq->from, &day) != OK)))
		return ERR;
	return OK;
}

int cmd_contract(int argc, char **argv)
{
	struct request rq = {.sub = argc > 1 ? argv[1] : ""};
	struct outcome o = {{0}, {0}};
	struct pg *db;
	int status, refused = 0;

	if (argc > 1 && strcmp(argv[1], "--help") == 0)
		return usage_on(stdout);
	if (argc < 2 || parse(argc, argv, &rq) != OK)
		return usage();
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	if (outbox_prepare(db) != OK) {
		pg_close(db);
		return 1;
	}
	status = pg_begin(db);
	if (status == OK)
		status = apply(db, &rq, &o, &refused);
	if (status != OK) {
		pg_rollback(db);
		pg_close(db);
		if (!refused)
			fprintf(stderr, "claimctl contract: nothing changed: database error"
					" (logged)\n");
		return 1;
	}
	if (pg_commit(db) != OK) {
		/* The COMMIT's answer is lost, not necessarily the COMMIT. */
		pg_close(db);
		fprintf(stderr,
			"claimctl contract: the commit's outcome is unknown (logged): whether"
			" contract %s of member %s was changed is not known; run the same command"
			" again to settle it (a change made twice is the same change; a reactivate"
			" already made is refused as not suspended)\n",
			o.contract, rq.member);
		return 1;
	}
	pg_close(db);
	printf("%s\n", o.said);
	drop_cached_rights(rq.member);
	return 0;
}
