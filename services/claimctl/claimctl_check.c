/*
 * NAME
 *	claimctl_check.c - claimctl check: do the books agree with the
 *	decisions?
 *
 * SYNOPSIS
 *	claimctl check [--since YYYY-MM-DD | --days N] [--member NUMBER]
 *
 * DESCRIPTION
 *	The reconciliation an operator runs every night. Decisions are the
 *	record; three things are kept from them by the workers, in the same
 *	transaction, and must equal them at all times:
 *
 *	  counters   consumption_counters: per beneficiary, category and day
 *	             of care, the sums of PF, franchise, AMC, forfait, the
 *	             units paid a forfait (a line's quantity when a forfait
 *	             paid it), the equipments (a line of a renewal category,
 *	             glasses or hearing aid, whose AMC is above zero) and the
 *	             number of lines decided: what the worker adds
 *	             (reimburse_batch.c), the engine's whole history;
 *	  years      consumption_years: the same per calendar year, without
 *	             the equipments (kept by triggers on the daily rows);
 *	  payments   one payment per claim whose decided AMC is above zero,
 *	             of exactly that amount, and none for the others (not
 *	             even one of 0).
 *
 *	A difference means a claim paid twice, a payment missing, or caps
 *	judged on a wrong history: never expected, always worth a person's
 *	look. The same care paid under two claims (a sender's two ids for
 *	it, a complement beside a corrected claim sent anew) is not one:
 *	each claim agrees with its own decisions, and nothing here compares
 *	one claim's care with another's. The scope comes first, "in scope: N claims, M beneficiaries"
 *	(a scope holding nothing checks nothing, and says ok). Each check
 *	then prints one line, "ok NAME" or "MISMATCH NAME: N", followed by
 *	up to 10 of the differences, each "KEY: BOOK, DECISIONS": the
 *	counters' values as PF/franchise/AMC/forfait/units/equipments/lines,
 *	the years' the same without the equipments, a payment's amount and
 *	the claim's AMC; "-" for a side that has no row.
 *
 *	--since restricts the checks to the beneficiaries (and claims) of
 *	the claims received or decided since that day (--days N: in the
 *	last N days, N from 1, for a scheduled run; one or the other, not
 *	both; a complement, or a claim decided again, counts by its
 *	decision), --member to the beneficiaries of one member's contracts
 *	(the subscriber's family included; a number that names no member is
 *	refused): on a large database the nightly run reads what changed,
 *	and a full run is for the weekend. Read only; one REPEATABLE READ
 *	transaction, so the three checks see one state.
 *
 *	Settings: CLAIMS_PG_DSN.
 *
 * DIAGNOSTICS
 *	Exit 0 when every check agrees; 1 on a mismatch (even when the
 *	database failed after it: the checks not printed concluded
 *	nothing, but the mismatch stands); 2 on bad usage (--since with
 *	--days, --days 0, an option twice, an unknown member); 3 when the
 *	database failed and nothing was concluded (worth trying again,
 *	unlike a mismatch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "claimctl/claimctl_scope.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "rules/rules.h"

#define SHOWN_MAX     10
#define CHECK_EXIT_DB 3 /* nothing concluded: try again */

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl check " CLAIMCTL_SCOPE_USAGE "\n"
		     "  --days N: the claims of the last N days (N from 1)\n"
		     "Settings: CLAIMS_PG_DSN.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

/* A decided line's forfait units and equipments, summed as the worker
 * counts them (reimburse_batch.c, add_lines): its quantity when a
 * forfait paid it; one equipment when its category is one of $4 (the
 * engine's renewal categories, rules_history_equipment_default) and the
 * AMC paid some of it. */
#define DECIDED_UNITS "sum(CASE WHEN d.forfait_cents > 0 THEN l.quantity ELSE 0 END)"
#define DECIDED_EQUIPMENTS \
	"count(*) FILTER (WHERE l.category = ANY($4::text[]) AND d.amc_cents > 0)"

/* The book's values and the decisions', "-" for a side that has no row
 * (concat_ws skips NULLs and never returns NULL: it gave "" then). */
#define BOTH_SIDES(book, decisions)                                                      \
	"CASE WHEN k.beneficiary_id IS NULL THEN '-' ELSE concat_ws('/', " book ") END," \
	" CASE WHEN d.beneficiary_id IS NULL THEN '-' ELSE concat_ws('/', " decisions ") END"

/* Each query gives (key, book, decisions) rows: the differences; it
 * takes the first `params` of the scope's and the equipments' values. */
static const struct check {
	const char *name, *sql;
	int params;
} checks[] = {
	{"counters",
	 "WITH s AS (" CLAIMCTL_SCOPE_CLAIMS "),"
	 " b AS (SELECT DISTINCT beneficiary_id FROM s),"
	 " d AS (SELECT c.beneficiary_id, l.category, l.care_date, sum(d.pf_cents) pf,"
	 "  sum(d.franchise_cents) fr, sum(d.amc_cents) amc, sum(d.forfait_cents) fo,"
	 "  " DECIDED_UNITS " fu, " DECIDED_EQUIPMENTS " eq, count(*) n"
	 "  FROM decisions d JOIN claim_lines l USING (claim_id, line_no)"
	 "  JOIN claims c USING (claim_id) WHERE c.beneficiary_id IN (SELECT * FROM b)"
	 "  GROUP BY 1, 2, 3),"
	 " k AS (SELECT beneficiary_id, category, care_date, pf_cents pf, franchise_cents fr,"
	 "  amc_cents amc, forfait_cents fo, forfait_units fu, equipments eq, lines n"
	 "  FROM consumption_counters WHERE beneficiary_id IN (SELECT * FROM b))"
	 " SELECT concat_ws(' ', coalesce(k.beneficiary_id, d.beneficiary_id),"
	 "  coalesce(k.category, d.category), coalesce(k.care_date, d.care_date)),"
	 "  " BOTH_SIDES(
		 "k.pf, k.fr, k.amc, k.fo, k.fu, k.eq, k.n",
		 "d.pf, d.fr, d.amc, d.fo, d.fu, d.eq, d.n") " FROM k FULL JOIN d USING "
							     "(beneficiary_id, category, care_date)"
							     " WHERE (k.pf, k.fr, k.amc, k.fo, "
							     "k.fu, k.eq, k.n)"
							     "  IS DISTINCT FROM (d.pf, d.fr, "
							     "d.amc, d.fo, d.fu, d.eq, d.n)"
							     " ORDER BY 1",
	 4},
	{"years",
	 "WITH s AS (" CLAIMCTL_SCOPE_CLAIMS "),"
	 " b AS (SELECT DISTINCT beneficiary_id FROM s),"
	 " d AS (SELECT c.beneficiary_id, date_part('year', l.care_date)::int AS year, l.category,"
	 "  sum(d.pf_cents) pf, sum(d.franchise_cents) fr, sum(d.amc_cents) amc,"
	 "  sum(d.forfait_cents) fo, " DECIDED_UNITS " fu, count(*) n"
	 "  FROM decisions d JOIN claim_lines l USING (claim_id, line_no)"
	 "  JOIN claims c USING (claim_id) WHERE c.beneficiary_id IN (SELECT * FROM b)"
	 "  GROUP BY 1, 2, 3),"
	 " k AS (SELECT beneficiary_id, year, category, pf_cents pf, franchise_cents fr,"
	 "  amc_cents amc, forfait_cents fo, forfait_units fu, lines n FROM consumption_years"
	 "  WHERE beneficiary_id IN (SELECT * FROM b))"
	 " SELECT concat_ws(' ', coalesce(k.beneficiary_id, d.beneficiary_id),"
	 "  coalesce(k.year, d.year), coalesce(k.category, d.category)),"
	 "  " BOTH_SIDES("k.pf, k.fr, k.amc, k.fo, k.fu, k.n",
			 "d.pf, d.fr, d.amc, d.fo, d.fu, d.n") " FROM k FULL JOIN d USING "
							       "(beneficiary_id, year, category)"
							       " WHERE (k.pf, k.fr, k.amc, k.fo, "
							       "k.fu, k.n) IS DISTINCT FROM (d.pf, "
							       "d.fr, d.amc, d.fo, d.fu, d.n)"
							       " ORDER BY 1",
	 3},
	{"payments",
	 "WITH s AS (" CLAIMCTL_SCOPE_CLAIMS "),"
	 " d AS (SELECT claim_id, sum(amc_cents) amc FROM decisions"
	 "  WHERE claim_id IN (SELECT claim_id FROM s) GROUP BY 1),"
	 " p AS (SELECT claim_id, amount_cents FROM payments"
	 "  WHERE claim_id IN (SELECT claim_id FROM s))"
	 " SELECT coalesce(p.claim_id, d.claim_id)::text, coalesce(p.amount_cents::text, '-'),"
	 "  CASE WHEN d.claim_id IS NULL THEN '-' WHEN d.amc = 0 THEN '0 (no payment due)'"
	 "  ELSE d.amc::text END"
	 " FROM p FULL JOIN d USING (claim_id)"
	 " WHERE coalesce(p.amount_cents, 0) <> coalesce(d.amc, 0)"
	 /* a payment, even of 0, where nothing is due (no decision, or an
	  * AMC of 0): the workers write none then */
	 "  OR (p.claim_id IS NOT NULL AND coalesce(d.amc, 0) = 0)"
	 " ORDER BY 1",
	 3},
};
/* clang-format on */

/* The engine's renewal categories, as a text[] literal: those whose
 * lines count as an equipment when the AMC paid some of them. */
static void equipment_categories(struct pgarray *out)
{
	pgarray_init(out);
	for (int c = 0; c < RULES_CAT_COUNT; c++)
		if (rules_history_equipment_default((enum rules_category)c, 1))
			pgarray_text(out, rules_category_name(c));
}

/* One check: its line and the first differences. *agrees 0 on one. */
static int run_check(struct pg *db, const struct check *c, const char *const v[4], int *agrees)
{
	PGresult *res;
	int n;

	if (pg_exec_params(db, c->sql, c->params, v, &res) != OK)
		return ERR;
	n = PQntuples(res);
	if (n == 0) {
		printf("ok %s\n", c->name);
	} else {
		*agrees = 0;
		printf("MISMATCH %s: %d (key: book, decisions)\n", c->name, n);
		for (int r = 0; r < n && r < SHOWN_MAX; r++)
			printf("  %s: %s, %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
			       PQgetvalue(res, r, 2));
	}
	PQclear(res);
	return OK;
}

int cmd_check(int argc, char **argv)
{
	struct claimctl_scope scope;
	struct pgarray equipments;
	struct pg *db;
	int status, agrees = 1, known = 1;

	if (argc > 1 && claimctl_is_help(argv[1]))
		return usage_on(stdout);
	if (claimctl_scope_parse(argc, argv, "claimctl check", &scope) != OK)
		return usage_on(stderr);
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return CHECK_EXIT_DB;
	equipment_categories(&equipments);
	{
		const char *v[4] = {scope.since, scope.member, scope.days,
				    pgarray_finish(&equipments)};

		status = pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
		if (status == OK)
			status = claimctl_scope_print(db, &scope, &known);
		for (size_t k = 0; status == OK && known && k < sizeof(checks) / sizeof(checks[0]);
		     k++)
			status = run_check(db, &checks[k], v, &agrees);
		if (status == OK)
			status = pg_commit(db);
		else
			pg_rollback(db);
	}
	pg_close(db);
	pgarray_free(&equipments);
	if (status == OK && !known) {
		fprintf(stderr, "claimctl check: no member %s\n", scope.member);
		return EXIT_USAGE;
	}
	/* A mismatch printed stands whatever failed after it (the checks
	 * read one snapshot and change nothing): exit 3, "try again", would
	 * have a scheduler retry it and take the failure for no answer. */
	if (!agrees) {
		if (status != OK)
			fprintf(stderr,
				"claimctl check: database error after a mismatch; the checks"
				" not printed concluded nothing\n");
		return 1;
	}
	if (status != OK) {
		fprintf(stderr, "claimctl check: database error; nothing concluded\n");
		return CHECK_EXIT_DB;
	}
	return 0;
}
