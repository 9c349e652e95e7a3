/*
 * NAME
 *	claimctl_contract.c - claimctl contract: change a member's contract
 *
 * SYNOPSIS
 *	claimctl contract terminate --member NUMBER --end-date YYYY-MM-DD [--reason TEXT]
 *	                            [--extend] [--cancel] [--contract ID]
 *	claimctl contract suspend --member NUMBER [--from YYYY-MM-DD] [--contract ID]
 *	claimctl contract reactivate --member NUMBER [--contract ID]
 *
 * DESCRIPTION
 *	Acts on the member's contract named by --contract, which must be
 *	one of theirs; without, on the one in force today, else the one
 *	that started last. A member with a renewal has two: once the
 *	renewal is in force, the contract before it (a death recorded late,
 *	backdated before the renewal began) is named by --contract. The
 *	change, its audit_log row and its
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
 *	An end date on or before the contract's start cancels it: it ends
 *	on its start date, an empty period (migration 024) that covers no
 *	day, and the line printed says "cancelled". A renewal recorded in
 *	advance is so undone when the member leaves before it begins. A
 *	contract that has begun (its start today or before) is cancelled
 *	only with --cancel: care since its start, accepted under it, would
 *	no longer be covered, and a year mistyped must not do that. What
 *	was decided under it stays decided (the workers judge coverage
 *	again for what is not yet).
 *
 *	An end date is refused when the contract would then overlap another
 *	of the member's that begins after this one's start and before that
 *	date (two contracts covering one day: intake would take the care
 *	under either): end it on the other's start at the latest, or cancel
 *	or end the other first. A contract cancelled covers no day and
 *	overlaps nothing.
 *
 *	After a terminate or a suspend, the member's other contracts that
 *	still cover days on or after the date asked (--end-date, or the
 *	suspension's first day) are named on stderr, with the --contract
 *	that would change them too: a renewal starting later, still active;
 *	after a cancellation, the contract before it that covers that date.
 *	A member who has left has left them all, but another contract is
 *	not ended unasked (a change of formula ends one contract where the
 *	next begins).
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
 *	One line on stdout once the change is committed, and the notes
 *	above on stderr (exit 0 all the same). Exit 1, nothing changed,
 *	when the member has no contract or --contract is not one of theirs
 *	(theirs are listed), when terminate would move an end date later
 *	without --extend (the current one is named), cancel a contract that
 *	has begun without --cancel, or make the contract
 *	overlap another (named, with its start), when reactivate finds the
 *	contract not suspended, or when the database refuses the change
 *	(logged); 2 on bad usage.
 *
 *	A change made whose line could not be written (a full disk, a
 *	closed pipe) exits 1 too, saying the change is made. When the
 *	COMMIT's answer is lost its outcome is unknown: the command says so
 *	and exits 1; running it again is safe (a change
 *	made twice is the same change; a reactivate made already is refused
 *	as not suspended). When Redis cannot be reached the change stands
 *	(exit 0) and stderr says that the cached rights were left to the
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
		     " [--reason TEXT] [--extend] [--cancel] [--contract ID]\n"
		     "       claimctl contract suspend --member NUMBER [--from YYYY-MM-DD]"
		     " [--contract ID]\n"
		     "       claimctl contract reactivate --member NUMBER [--contract ID]\n\n"
		     "Acts on --contract (one of the member's), else on the contract in force\n"
		     "today, else the one that started last. terminate never moves an end\n"
		     "date later without --extend, nor makes the contract overlap another;\n"
		     "an end date on or before its start cancels it (ended on its start, it\n"
		     "covers no day), with --cancel once it has begun. The reason recorded is\n"
		     "kept unless --reason is given.\n"
		     "Each change is audited; the member's other contracts still in force\n"
		     "after it are named on stderr.\n"
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
	const char *contract; /* --contract, or NULL */
	int extend, cancel;
};

/* A member's contract a command acts on: the one in force today, else
 * the one that started last (one id breaking a tie): a renewal that
 * starts next month is not the one suspended today. */
#define CONTRACT_ORDER(c)                                                               \
	" ORDER BY (" c ".start_date <= current_date AND (" c ".end_date IS NULL OR " c \
	".end_date > current_date)) DESC, " c ".start_date DESC, " c ".contract_id DESC"

/* clang-format off */
/* The member locked until the commit, before its contracts are read: a
 * second command on any of the member's contracts waits here, then reads
 * what the first made of them, in the statement after (its own snapshot)
 * — the choice of the contract included, which one statement locking
 * as it picks would have made on the rows as they were (PostgreSQL
 * checks again a row's WHERE once its lock is granted, not its ORDER BY).
 * NO KEY: rows naming the member (contracts, documents, notifications)
 * can still be inserted meanwhile. */
static const char sql_lock_member[] =
	"SELECT 1 FROM members WHERE membership_number = $1 FOR NO KEY UPDATE";

/* The contract, locked until the commit too (the overlap check sees the
 * other commands' dates); its member is already (sql_lock_member). */
static const char sql_pick[] =
	"SELECT c.contract_id, c.status, c.start_date::text, coalesce(c.end_date::text, ''),"
	" c.start_date <= current_date"
	" FROM contracts c JOIN members m ON m.member_id = c.member_id"
	" WHERE m.membership_number = $1 AND ($2::bigint IS NULL OR c.contract_id = $2::bigint)"
	CONTRACT_ORDER("c") " LIMIT 1 FOR NO KEY UPDATE OF c";

/* The member's contracts, to say which --contract could be. */
static const char sql_theirs[] =
	"SELECT string_agg(c.contract_id::text || ' (from ' || c.start_date::text || ')', ', '"
	"  ORDER BY c.start_date, c.contract_id)"
	" FROM contracts c JOIN members m ON m.member_id = c.member_id"
	" WHERE m.membership_number = $1";

/* Another contract of the member (one that covers no day aside) whose
 * period meets contract $1's from its start to the end date $2: the two
 * would cover the same days. Either may have begun first (a contract
 * re-opened with --extend after the one that followed it). */
static const char sql_overlap[] =
	"SELECT o.contract_id, o.start_date::text, coalesce(o.end_date::text, 'no end')"
	" FROM contracts c"
	" JOIN contracts o ON o.member_id = c.member_id AND o.contract_id <> c.contract_id"
	" WHERE c.contract_id = $1::bigint AND o.start_date < $2::date"
	"  AND coalesce(o.end_date, 'infinity') > c.start_date"
	"  AND (o.end_date IS NULL OR o.end_date > o.start_date)"
	" ORDER BY o.start_date, o.contract_id LIMIT 1";

/* The member's other contracts that cover some day on or after $2 (the
 * day the change of contract $1 takes effect): not ended before it,
 * not suspended from a day on or before their first day after it. */
static const char sql_still_covering[] =
	"SELECT o.contract_id, o.start_date::text FROM contracts c"
	" JOIN contracts o ON o.member_id = c.member_id AND o.contract_id <> c.contract_id"
	" WHERE c.contract_id = $1::bigint"
	"  AND (o.end_date IS NULL OR o.end_date > greatest(o.start_date, $2::date))"
	"  AND NOT (o.status = 'suspended'"
	"   AND coalesce(o.suspended_from, '-infinity') <= greatest(o.start_date, $2::date))"
	" ORDER BY o.start_date, o.contract_id";

/* Claims of the contract paid to the member and decided before the
 * change for care on or after the day it takes effect (a termination
 * recorded late, after a death): what was decided stays decided, but
 * the treasury may hold their payments, still pending, from the next
 * export, and recover the others. The first ten, oldest care first. */
static const char sql_decided_after[] =
	"SELECT c.claim_id::text, min(l.care_date)::text, coalesce(p.status, 'none'),"
	" coalesce(p.amount_cents, 0), count(*) OVER ()"
	" FROM claims c JOIN claim_lines l ON l.claim_id = c.claim_id"
	" LEFT JOIN payments p ON p.claim_id = c.claim_id"
	" WHERE c.contract_id = $1::bigint AND c.payee = 'member'"
	"  AND c.status IN ('complete', 'partial') AND l.care_date >= $2::date"
	" GROUP BY c.claim_id, p.status, p.amount_cents ORDER BY 2, 1 LIMIT 10";

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

enum { K_ID, K_STATUS, K_START, K_END, K_BEGUN };
enum { C_STATUS, C_END, C_SUSPENDED_FROM };

/* What a committed change prints. */
struct outcome {
	char contract[24];
	char said[320];
	char effective[DATE_STR_LEN]; /* the day it takes effect, "" none */
	PGresult *others;	      /* from sql_still_covering, or NULL */
	PGresult *decided;	      /* from sql_decided_after, or NULL */
};

/* The contract to change, locked; ERR (said why when *refused) when
 * there is none or it cannot take the change. */
static int pick(struct pg *db, const struct request *rq, PGresult **out, int *refused)
{
	const char *v[2] = {rq->member, rq->contract};
	PGresult *theirs, *member;

	if (pg_exec_params(db, sql_lock_member, 1, v, &member) != OK)
		return ERR;
	PQclear(member);
	if (pg_exec_params(db, sql_pick, 2, v, out) != OK)
		return ERR;
	if (PQntuples(*out) == 0) {
		if (pg_exec_params(db, sql_theirs, 1, v, &theirs) != OK)
			return ERR;
		if (PQgetisnull(theirs, 0, 0))
			fprintf(stderr, "claimctl contract: member %s has no contract\n",
				rq->member);
		else
			fprintf(stderr,
				"claimctl contract: contract %s is not one of member %s's (theirs:"
				" %s)\n",
				rq->contract, rq->member, PQgetvalue(theirs, 0, 0));
		PQclear(theirs);
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

/* A termination's end date, into `end`: the one asked, or the
 * contract's start when asked on or before it (*cancelled set). Never
 * later than the one the contract has, unless --extend; never making it
 * overlap another contract of the member's. */
static int end_date_of(struct pg *db, const struct request *rq, const PGresult *k,
		       char end[DATE_STR_LEN], int *cancelled, int *refused)
{
	const char *now_ends = PQgetvalue(k, 0, K_END), *v[2] = {PQgetvalue(k, 0, K_ID), end};
	int32_t asked, start, ends, current;
	PGresult *res;

	/* Checked at parse time; ISO from the server (pg.c sets DateStyle). */
	if (date_parse(rq->end, &asked) != OK ||
	    date_parse(PQgetvalue(k, 0, K_START), &start) != OK)
		return ERR;
	*cancelled = asked <= start;
	ends = *cancelled ? start : asked;
	date_format(ends, end);
	if (*cancelled && PQgetvalue(k, 0, K_BEGUN)[0] == 't' && !rq->cancel) {
		fprintf(stderr,
			"claimctl contract: an end date of %s is on or before the start of contract"
			" %s of member %s (%s), which has begun: it would be cancelled, and care"
			" since its start no longer covered; give --cancel if that is meant\n",
			rq->end, v[0], rq->member, PQgetvalue(k, 0, K_START));
		*refused = 1;
		return ERR;
	}
	if (now_ends[0] != '\0' && !rq->extend) {
		if (date_parse(now_ends, &current) != OK)
			return ERR;
		if (ends > current) {
			fprintf(stderr,
				"claimctl contract: contract %s of member %s already ends on %s; an"
				" end date of %s would cover the days between again (care accepted"
				" and paid): give --extend if that is meant\n",
				v[0], rq->member, now_ends, end);
			*refused = 1;
			return ERR;
		}
	}
	/* Cancelled, it covers no day: it overlaps nothing. */
	if (*cancelled)
		return OK;
	if (pg_exec_params(db, sql_overlap, 2, v, &res) != OK)
		return ERR;
	if (PQntuples(res) > 0) {
		fprintf(stderr,
			"claimctl contract: an end date of %s would leave contract %s of member %s"
			" overlapping contract %s (from %s, until %s): both would cover the same"
			" days; end or cancel one of them first (--contract %s)\n",
			end, v[0], rq->member, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
			PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 0));
		*refused = 1;
	}
	PQclear(res);
	return *refused ? ERR : OK;
}

/* The change, its audit row and its event, in the caller's transaction. */
static int apply(struct pg *db, const struct request *rq, struct outcome *o, int *refused)
{
	Claims__ContractChanged ev = CLAIMS__CONTRACT_CHANGED__INIT;
	const char *actor = claimctl_operator(), *sql;
	const char *v[5];
	char *until, *from, end[DATE_STR_LEN];
	PGresult *k = NULL, *res = NULL;
	int n = 3, status = ERR, cancelled = 0;

	if (pick(db, rq, &k, refused) != OK)
		goto done;
	snprintf(o->contract, sizeof(o->contract), "%s", PQgetvalue(k, 0, K_ID));
	v[0] = o->contract;
	v[1] = actor;
	v[2] = rq->member;
	if (strcmp(rq->sub, "terminate") == 0) {
		if (end_date_of(db, rq, k, end, &cancelled, refused) != OK)
			goto done;
		sql = sql_terminate;
		v[n++] = end;
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
	snprintf(o->said, sizeof(o->said), "contract %s of member %s: %s%s%s%s%s%s", o->contract,
		 rq->member, PQgetvalue(res, 0, C_STATUS), from[0] ? " from " : "", from,
		 until[0] ? " until " : "", until,
		 cancelled ? ", its start: cancelled, it covers no day" : "");
	/* The day from which the member is meant to be without this
	 * contract: the date asked (a cancellation ends the contract on its
	 * start, but the member left on the day asked, perhaps under the
	 * contract before it); a suspension with no first day (made before
	 * they were dated) from the contract's start. */
	snprintf(o->effective, sizeof(o->effective), "%s",
		 strcmp(rq->sub, "terminate") == 0 ? rq->end
		 : ev.effective_date != NULL	   ? ev.effective_date
						   : PQgetvalue(k, 0, K_START));
	if (status == OK && strcmp(rq->sub, "reactivate") != 0) {
		const char *w[2] = {o->contract, o->effective};

		status = pg_exec_params(db, sql_still_covering, 2, w, &o->others);
		if (status == OK)
			status = pg_exec_params(db, sql_decided_after, 2, w, &o->decided);
	}
done:
	PQclear(res);
	PQclear(k);
	return status;
}

/* After the commit: the member's other contracts still in force after
 * the day the change takes effect. A member who has left has left them
 * all; a change of formula ends one where the next begins. */
static void notes(const struct request *rq, const struct outcome *o)
{
	int decided = o->decided != NULL ? PQntuples(o->decided) : 0;

	if (decided > 0)
		fprintf(stderr,
			"claimctl contract: note: %s claim(s) paid to member %s were decided before"
			" this change for care on or after %s; they stay decided (claimctl check"
			" agrees with them): if the member was not covered, hold the pending"
			" payments from the next exports (claimctl payments hold --reason TEXT"
			" CLAIM_ID...) and recover the others:\n",
			PQgetvalue(o->decided, 0, 4), rq->member, o->effective);
	for (int r = 0; r < decided; r++)
		fprintf(stderr,
			"claimctl contract: note:   claim %s, care from %s, payment %s %s\n",
			PQgetvalue(o->decided, r, 0), PQgetvalue(o->decided, r, 1),
			PQgetvalue(o->decided, r, 2), PQgetvalue(o->decided, r, 3));
	for (int r = 0; o->others != NULL && r < PQntuples(o->others); r++)
		fprintf(stderr,
			"claimctl contract: note: contract %s (from %s) still covers member %s on"
			" and after %s: %s it too with --contract %s if the member has %s\n",
			PQgetvalue(o->others, r, 0), PQgetvalue(o->others, r, 1), rq->member,
			o->effective, rq->sub, PQgetvalue(o->others, r, 0),
			strcmp(rq->sub, "terminate") == 0 ? "left" : "not paid for it either");
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
 * --extend and --cancel: a lone word (a value forgotten, a stray argument) is
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

		if (strcmp(argv[i], "--extend") == 0 || strcmp(argv[i], "--cancel") == 0) {
			*(argv[i][2] == 'e' ? &rq->extend : &rq->cancel) = 1;
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
		else if (strcmp(argv[i], "--contract") == 0)
			slot = &rq->contract;
		else
			return ERR;
		if (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0)
			return ERR;
		*slot = argv[++i];
	}
	terminate = rq->change != NULL && strcmp(rq->sub, "terminate") == 0;
	/* --end-date, --reason, --extend and --cancel are terminate's, --from
	 * suspend's: elsewhere they would be ignored, and the operator
	 * believe them applied. */
	if (rq->change == NULL || rq->member == NULL ||
	    (rq->contract != NULL &&
	     (rq->contract[0] == '\0' || strlen(rq->contract) > 18 ||
	      strspn(rq->contract, "0123456789") != strlen(rq->contract))) ||
	    (terminate && (rq->end == NULL || date_parse(rq->end, &day) != OK)) ||
	    (!terminate && (rq->end != NULL || rq->reason != NULL || rq->extend || rq->cancel)) ||
	    (rq->from != NULL &&
	     (strcmp(rq->sub, "suspend") != 0 || date_parse(rq->from, &day) != OK)))
		return ERR;
	return OK;
}

int cmd_contract(int argc, char **argv)
{
	struct request rq = {.sub = argc > 1 ? argv[1] : ""};
	struct outcome o = {{0}, {0}, {0}, NULL, NULL};
	struct pg *db;
	int status, refused = 0;

	if (claimctl_wants_help(argc, argv))
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
		PQclear(o.others);
		PQclear(o.decided);
		if (!refused)
			fprintf(stderr, "claimctl contract: nothing changed: database error"
					" (logged)\n");
		return 1;
	}
	if (pg_commit(db) != OK) {
		/* The COMMIT's answer is lost, not necessarily the COMMIT. */
		pg_close(db);
		PQclear(o.others);
		PQclear(o.decided);
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
	notes(&rq, &o);
	PQclear(o.others);
	PQclear(o.decided);
	drop_cached_rights(rq.member);
	if (claimctl_stdout_written("claimctl contract") != OK) {
		fprintf(stderr,
			"claimctl contract: the change is made (%s), but its answer was not"
			" written whole\n",
			o.said);
		return 1;
	}
	return 0;
}
