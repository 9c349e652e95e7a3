/*
 * NAME
 *	claimctl_duplicates.c - claimctl duplicates: the same care paid
 *	under two claims?
 *
 * SYNOPSIS
 *	claimctl duplicates [--since YYYY-MM-DD | --days N] [--member NUMBER] [--hold]
 *	claimctl duplicates clear --reason TEXT CLAIM_ID[/LINE]...
 *
 * DESCRIPTION
 *	Each claim is decided once (its key, source and external id), but
 *	one act of care can come under two keys: the professional's
 *	tiers-payant invoice and the Assurance Maladie's flow for the same
 *	act, a sender's two ids for one invoice, a paper claim sent after
 *	its electronic copy. Each is then paid, and claimctl check, which
 *	compares each claim with its own decisions, finds nothing.
 *
 *	duplicates lists the lines of the claims in scope (received or
 *	decided since --since, in the last --days N, of --member's family:
 *	as claimctl check) that the AMC paid and whose care a paid line of
 *	a claim received earlier has too: the same person (a beneficiary
 *	under another contract included), day of care, category, act code,
 *	quantity and amount charged, and the same BRSS and professional when
 *	both claims give one (a sender may leave the BRSS to the act's
 *	tariff). A claim and its complement (claim redecide) are not
 *	duplicates. One line per suspect, naming the first such claim:
 *
 *	  CLAIM LINE repeats CLAIM LINE: DATE CATEGORY ACT xQUANTITY
 *	      charged C, AMC A (first paid F), payment STATUS
 *
 *	then "N suspected duplicate(s)". STATUS is the suspect's payment
 *	(pending: claimctl payments hold keeps it from the bank; paid:
 *	recover it from the payee). --hold does the first itself, after the
 *	list, for each suspect whose payment is pending: held, with the
 *	reason "suspected duplicate of FIRST_CLAIM" and an audit row naming
 *	the operator (CLAIMS_OPERATOR), one line "CLAIM held AMOUNT" each
 *	(or "CLAIM not held: ..." when it left pending meanwhile); a
 *	nightly run with it, before the day's export, keeps a second payment
 *	of the same care from the bank until someone looks. clear records
 *	that a claim, or one line of it (CLAIM_ID/LINE), was looked at, with
 *	the reason (a duplicate held, or recovered; care repeated on
 *	purpose, two boxes of one medicine under two prescriptions the same
 *	day) and the operator, in the audit log: the claim's lines, or that
 *	line, are no longer listed as suspects. Read only but for --hold
 *	and clear;
 *	one REPEATABLE READ transaction, the suspects read through a cursor
 *	(a sender's flood of copies does not fill the command's memory).
 *
 *	Only days whose counters (consumption_counters, all the person's
 *	beneficiaries) count two lines or more of the category are
 *	searched: the common day of one line costs one index lookup.
 *
 *	Settings: CLAIMS_PG_DSN, CLAIMS_OPERATOR (--hold, clear: the name
 *	the audit rows give; the nightly CronJob's is claims-duplicates).
 *
 * DIAGNOSTICS
 *	Exit 0 when none is suspected; 1 when some are (for a scheduled
 *	run to alert), or (clear) when a claim named does not exist; 2 on
 *	bad usage (as claimctl check; a reason with a control character);
 *	3 when the database failed: nothing concluded, or (--hold) the
 *	suspects' payments not all held (a run again holds the rest), or
 *	(clear) the claims not answered were not cleared.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "claimctl/claimctl_scope.h"
#include "common/pg.h"
#include "common/util.h"
#include "common/xalloc.h"

#define DUPLICATES_EXIT_DB 3 /* nothing concluded: try again */

static int usage_on(FILE *out)
{
	fprintf(out, "Usage: claimctl duplicates " CLAIMCTL_SCOPE_USAGE " [--hold]\n"
		     "       claimctl duplicates clear --reason TEXT CLAIM_ID[/LINE]...\n"
		     "  --days N: the claims of the last N days (N from 1)\n"
		     "  --hold: the suspects' pending payments held (payments hold)\n"
		     "Settings: CLAIMS_PG_DSN, CLAIMS_OPERATOR.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

/* clang-format off */
/* A line of a claim an operator recorded as looked at (duplicates
 * clear): the claim's whole, or that line. */
#define CLEARED(claim, line)                                                               \
	"EXISTS (SELECT 1 FROM audit_log a WHERE a.entity = 'claim'"                        \
	" AND a.entity_id = " claim "::text AND a.action = 'duplicate_cleared'"             \
	" AND (a.detail->>'line' IS NULL OR a.detail->>'line' = " line "::text))"

/* $1 since, $2 member, $3 days. x: the paid lines of the claims in
 * scope, on a day whose counters count another line of the category for
 * the person; each joined to the paid lines of the same care in the
 * person's earlier claims, the first one kept. */
static const char sql_suspects[] =
	"DECLARE suspects NO SCROLL CURSOR FOR"
	" WITH s AS (" CLAIMCTL_SCOPE_CLAIMS "),"
	" x AS (SELECT c.claim_id, c.received_at, c.professional_id, b.person_id, l.line_no,"
	"  l.care_date, l.category, l.act_code, l.quantity, l.charged_cents, l.brss_cents,"
	"  d.amc_cents"
	"  FROM s JOIN claims c ON c.claim_id = s.claim_id"
	"  JOIN beneficiaries b ON b.beneficiary_id = c.beneficiary_id"
	"  JOIN decisions d ON d.claim_id = c.claim_id AND d.amc_cents > 0"
	"  JOIN claim_lines l ON l.claim_id = d.claim_id AND l.line_no = d.line_no"
	"  WHERE NOT " CLEARED("c.claim_id", "l.line_no")
	"  AND (SELECT sum(k.lines) FROM beneficiaries pb JOIN consumption_counters k"
	"   ON k.beneficiary_id = pb.beneficiary_id AND k.category = l.category"
	"   AND k.care_date = l.care_date WHERE pb.person_id = b.person_id) > 1)"
	" SELECT DISTINCT ON (x.received_at, x.claim_id, x.line_no)"
	"  x.claim_id, x.line_no, e.claim_id, el.line_no, x.care_date, x.category,"
	"  coalesce(x.act_code, '-'), x.quantity, x.charged_cents, x.amc_cents, ed.amc_cents,"
	"  coalesce(p.status, '-')"
	" FROM x JOIN beneficiaries pb ON pb.person_id = x.person_id"
	" JOIN claims e ON e.beneficiary_id = pb.beneficiary_id"
	"  AND (e.received_at, e.claim_id) < (x.received_at, x.claim_id)"
	" JOIN claim_lines el ON el.claim_id = e.claim_id AND el.care_date = x.care_date"
	"  AND el.category = x.category AND el.act_code IS NOT DISTINCT FROM x.act_code"
	"  AND el.quantity = x.quantity AND el.charged_cents = x.charged_cents"
	"  AND (el.brss_cents IS NULL OR x.brss_cents IS NULL OR el.brss_cents = x.brss_cents)"
	" JOIN decisions ed ON ed.claim_id = el.claim_id AND ed.line_no = el.line_no"
	"  AND ed.amc_cents > 0"
	" LEFT JOIN payments p ON p.claim_id = x.claim_id"
	" WHERE (e.professional_id IS NULL OR x.professional_id IS NULL"
	"  OR e.professional_id = x.professional_id)"
	" AND NOT EXISTS (SELECT 1 FROM claim_complements cc"
	"  WHERE (cc.claim_id = e.claim_id AND cc.complement_id = x.claim_id)"
	"  OR (cc.claim_id = x.claim_id AND cc.complement_id = e.claim_id))"
	" ORDER BY x.received_at, x.claim_id, x.line_no, e.received_at, e.claim_id, el.line_no";

/* $1 claim, $2 reason, $3 operator, $4 line (NULL: the whole claim):
 * (claim or line exists, cleared before, cleared now). A line cleared
 * before the whole claim is, does not make the claim cleared. */
static const char sql_clear[] =
	"WITH c AS (SELECT cl.claim_id FROM claims cl WHERE cl.claim_id = $1::uuid"
	"  AND ($4::int IS NULL OR EXISTS (SELECT 1 FROM claim_lines l"
	"   WHERE l.claim_id = cl.claim_id AND l.line_no = $4::int))),"
	" done AS (SELECT 1 FROM audit_log a JOIN c ON a.entity_id = c.claim_id::text"
	"  WHERE a.entity = 'claim' AND a.action = 'duplicate_cleared'"
	"  AND (a.detail->>'line' IS NULL OR a.detail->>'line' = $4::int::text)),"
	" ins AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	"  SELECT $3, 'duplicate_cleared', 'claim', claim_id::text,"
	"  jsonb_strip_nulls(jsonb_build_object('reason', $2::text, 'line', $4::int)) FROM c"
	"  WHERE NOT EXISTS (SELECT 1 FROM done) RETURNING 1)"
	" SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM done), (SELECT count(*) FROM ins)";
/* clang-format on */

#define FETCH_ROWS "1000"

/* The suspects whose payment was pending when listed, for --hold. */
struct to_hold {
	char (*claim)[UUID_STR_LEN], (*first)[UUID_STR_LEN];
	int n, cap;
};

static void keep_pending(struct to_hold *h, PGresult *res, int r)
{
	if (h == NULL || strcmp(PQgetvalue(res, r, 11), "pending") != 0)
		return;
	/* A claim with several suspect lines: listed together, held once. */
	if (h->n > 0 && strcmp(h->claim[h->n - 1], PQgetvalue(res, r, 0)) == 0)
		return;
	if (h->n == h->cap) {
		h->cap = h->cap ? 2 * h->cap : 64;
		h->claim = xrealloc(h->claim, (size_t)h->cap * sizeof(*h->claim));
		h->first = xrealloc(h->first, (size_t)h->cap * sizeof(*h->first));
	}
	snprintf(h->claim[h->n], UUID_STR_LEN, "%s", PQgetvalue(res, r, 0));
	snprintf(h->first[h->n], UUID_STR_LEN, "%s", PQgetvalue(res, r, 2));
	h->n++;
}

static void print_suspect(PGresult *res, int r)
{
	printf("%s %s repeats %s %s: %s %s %s x%s charged %s, AMC %s (first paid %s),"
	       " payment %s\n",
	       PQgetvalue(res, r, 0), PQgetvalue(res, r, 1), PQgetvalue(res, r, 2),
	       PQgetvalue(res, r, 3), PQgetvalue(res, r, 4), PQgetvalue(res, r, 5),
	       PQgetvalue(res, r, 6), PQgetvalue(res, r, 7), PQgetvalue(res, r, 8),
	       PQgetvalue(res, r, 9), PQgetvalue(res, r, 10), PQgetvalue(res, r, 11));
}

/* The suspects, FETCH_ROWS at a time from a cursor of the transaction;
 * *found counts those printed (they stand if a later fetch fails). */
static int list_suspects(struct pg *db, const struct claimctl_scope *scope, long *found,
			 struct to_hold *hold)
{
	const char *v[3] = {scope->since, scope->member, scope->days};
	PGresult *res;
	int n;

	/* All of it will be read: planned for the whole result, as without
	 * a cursor, not for its first rows (a cursor's default). */
	if (pg_exec(db, "SET LOCAL cursor_tuple_fraction = 1.0") != OK ||
	    pg_exec_params(db, sql_suspects, 3, v, NULL) != OK)
		return ERR;
	do {
		if (pg_exec_params(db, "FETCH " FETCH_ROWS " FROM suspects", 0, NULL, &res) != OK)
			return ERR;
		n = PQntuples(res);
		for (int r = 0; r < n; r++) {
			print_suspect(res, r);
			keep_pending(hold, res, r);
		}
		*found += n;
		PQclear(res);
	} while (n == atoi(FETCH_ROWS));
	printf("%ld suspected duplicate(s)\n", *found);
	return OK;
}

/* Each pending suspect's payment held, in its own statement (a payment
 * sent or held meanwhile is left as it is, and said). */
static int hold_pending(struct pg *db, const struct to_hold *h)
{
	for (int i = 0; i < h->n; i++) {
		char reason[64 + UUID_STR_LEN], amount[24];

		snprintf(reason, sizeof(reason), "suspected duplicate of %s", h->first[i]);
		if (claimctl_payment_hold(db, h->claim[i], reason, amount, sizeof(amount)) != OK)
			return ERR;
		if (amount[0] != '\0')
			printf("%s held %s\n", h->claim[i], amount);
		else
			printf("%s not held: its payment is no longer pending\n", h->claim[i]);
	}
	return OK;
}

/* --hold, anywhere among the options: taken out of argv (the scope's
 * options come in pairs). */
static int take_hold(int *argc, char **argv)
{
	int found = 0, kept = 1;

	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--hold") == 0 && !found)
			found = 1;
		else
			argv[kept++] = argv[i];
	}
	*argc = kept;
	return found;
}

static int report(int argc, char **argv)
{
	struct claimctl_scope scope;
	struct to_hold pending = {NULL, NULL, 0, 0};
	struct pg *db;
	int status, known = 1, hold = take_hold(&argc, argv);
	long found = 0;

	if (claimctl_scope_parse(argc, argv, "claimctl duplicates", &scope) != OK)
		return usage_on(stderr);
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return DUPLICATES_EXIT_DB;
	status = pg_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (status == OK)
		status = claimctl_scope_print(db, &scope, &known);
	if (status == OK && known)
		status = list_suspects(db, &scope, &found, hold ? &pending : NULL);
	if (status == OK)
		status = pg_commit(db);
	else
		pg_rollback(db);
	if (status == OK && hold)
		status = hold_pending(db, &pending);
	pg_close(db);
	free(pending.claim);
	free(pending.first);
	if (status == OK && !known) {
		fprintf(stderr, "claimctl duplicates: no member %s\n", scope.member);
		return EXIT_USAGE;
	}
	/* With --hold, a failure leaves payments of suspects pending that
	 * the day's transfer run would take: 3, for the scheduler to run it
	 * again (only payments still pending are held). */
	if (hold && status != OK) {
		fprintf(stderr, "claimctl duplicates: database error; the suspects' payments"
				" not all held: run it again\n");
		return DUPLICATES_EXIT_DB;
	}
	/* Suspects printed stand whatever failed after them (a later fetch,
	 * the commit of a read-only snapshot). */
	if (found > 0) {
		if (status != OK)
			fprintf(stderr,
				"claimctl duplicates: database error after %ld suspect(s); the"
				" rest of the list not read\n",
				found);
		return 1;
	}
	if (status != OK) {
		fprintf(stderr, "claimctl duplicates: database error; nothing concluded\n");
		return DUPLICATES_EXIT_DB;
	}
	return 0;
}

/* The database failed before argv[first]: it and those after it are
 * not cleared. */
static int not_cleared(int argc, char **argv, int first)
{
	fprintf(stderr,
		"claimctl duplicates clear: database error; %d claim(s) from %s on not cleared\n",
		argc - first, argv[first]);
	return DUPLICATES_EXIT_DB;
}

/* CLAIM_ID or CLAIM_ID/LINE (a line number from 1): the claim in id,
 * lower case, the line in line ("" for the whole claim); ERR if not. */
static int clear_target(const char *arg, char id[UUID_STR_LEN], char line[8])
{
	const char *slash = strchr(arg, '/');
	size_t n = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

	if (n != UUID_STR_LEN - 1)
		return ERR;
	memcpy(id, arg, n);
	id[n] = '\0';
	if (!uuid_valid(id))
		return ERR;
	uuid_lower(id);
	line[0] = '\0';
	if (slash == NULL)
		return OK;
	if (slash[1] == '\0' || slash[1] == '0' || strlen(slash + 1) > 4 ||
	    strspn(slash + 1, "0123456789") != strlen(slash + 1))
		return ERR;
	snprintf(line, 8, "%s", slash + 1);
	return OK;
}

/* Each claim or line named, cleared once; 1 when one does not exist. */
static int clear(int argc, char **argv)
{
	const char *reason;
	struct pg *db;
	int status = OK, missing = 0, i;

	if (argc < 5 || strcmp(argv[2], "--reason") != 0 || !claimctl_reason_ok(argv[3]))
		return usage_on(stderr);
	reason = argv[3];
	for (i = 4; i < argc; i++) {
		char id[UUID_STR_LEN], line[8];

		if (clear_target(argv[i], id, line) != OK) {
			fprintf(stderr,
				"claimctl duplicates clear: '%s' is not CLAIM_ID or "
				"CLAIM_ID/LINE\n",
				argv[i]);
			return EXIT_USAGE;
		}
	}
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return not_cleared(argc, argv, 4);
	for (i = 4; status == OK && i < argc; i++) {
		char id[UUID_STR_LEN], line[8], named[UUID_STR_LEN + 8];
		const char *v[4] = {id, reason, claimctl_operator(), line};
		PGresult *res;

		if (clear_target(argv[i], id, line) != OK)
			break; /* checked above */
		snprintf(named, sizeof(named), "%s%s%s", id, line[0] ? "/" : "", line);
		if (line[0] == '\0')
			v[3] = NULL;
		if ((status = pg_exec_params(db, sql_clear, 4, v, &res)) != OK)
			break; /* argv[i] not done either */
		if (PQgetvalue(res, 0, 0)[0] == '0') {
			printf("%s refused no such %s\n", named, line[0] ? "line" : "claim");
			missing++;
		} else {
			printf("%s %s\n", named,
			       PQgetvalue(res, 0, 1)[0] != '0' ? "already cleared" : "cleared");
		}
		PQclear(res);
	}
	pg_close(db);
	if (status != OK)
		return not_cleared(argc, argv, i);
	return missing == 0 ? 0 : 1;
}

int cmd_duplicates(int argc, char **argv)
{
	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	if (argc > 1 && strcmp(argv[1], "clear") == 0)
		return clear(argc, argv);
	return report(argc, argv);
}
