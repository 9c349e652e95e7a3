/*
 * NAME
 *	claimctl_claim.c - claimctl claim: where a claim stands and why
 *
 * SYNOPSIS
 *	claimctl claim CLAIM_ID
 *	claimctl claim --external SOURCE EXTERNAL_ID
 *	claimctl claim release SOURCE EXTERNAL_ID
 *	claimctl claim redecide CLAIM_ID...   (claimctl_redecide.c)
 *
 * DESCRIPTION
 *	Prints the claim's status, its beneficiary and formula, its payment
 *	(to whom, how much, and where it stands: owed, sent in a run, paid
 *	under a bank reference, held and why), then one row per line: care,
 *	amounts (AMO paid, AMC, reste à charge) and the names of the rules
 *	that decided them (docs/rules.md explains each); last, what operators
 *	did to it (the audit log of the claim and of its payment: decided
 *	again, completed, held, given back by the bank, released, cleared as
 *	no duplicate), with who and why, and what the member was told of it
 *	(the notify daemon's notifications). A key (source, external id) that
 *	intake rejected shows its rejection.
 *
 *	release: a rejection is the first answer of its key for good, and
 *	some depend on data loaded later (UNKNOWN_MEMBER before the contract
 *	is, UNKNOWN_PROFESSIONAL before the professional is). Released, the
 *	key's rejection is deleted (its claims.rejected event stays in the
 *	log) and the next submission under it is decided anew. Under the
 *	key's advisory lock, as intake reads first answers: a submission
 *	being decided meanwhile finishes first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/pg.h"
#include "common/util.h"
#include "intake/intake.h"

static const char sql_claim[] =
	"SELECT cl.claim_id, cl.status, coalesce(cl.outcome_reason, ''), cl.source, cl.external_id,"
	" m.membership_number, b.rank, b.first_name || ' ' || b.last_name, c.formula_code,"
	" cl.payee, to_char(cl.received_at, 'YYYY-MM-DD HH24:MI:SS'),"
	" coalesce(to_char(cl.decided_at, 'YYYY-MM-DD HH24:MI:SS'), '-'),"
	" coalesce((SELECT p.id_kind || ' ' || p.id_value || ' (' || p.name || ')'"
	"  FROM professionals p WHERE p.professional_id = cl.professional_id), '-'),"
	" coalesce(cl.quote_id::text, ''),"
	" coalesce((SELECT k.complement_id::text FROM claim_complements k"
	"  WHERE k.claim_id = cl.claim_id), ''),"
	" coalesce((SELECT k.claim_id::text FROM claim_complements k"
	"  WHERE k.complement_id = cl.claim_id), '')"
	" FROM claims cl JOIN contracts c ON c.contract_id = cl.contract_id"
	" JOIN members m ON m.member_id = c.member_id"
	" JOIN beneficiaries b ON b.beneficiary_id = cl.beneficiary_id"
	" WHERE cl.claim_id = $1::uuid OR (cl.source = $2 AND cl.external_id = $3)";

static const char sql_lines[] =
	"SELECT l.line_no, l.category, l.care_date::text, l.charged_cents,"
	" coalesce(d.amo_paid_cents::text, '-'), coalesce(d.amc_cents::text, '-'),"
	" coalesce(d.rac_cents::text, '-'), coalesce(array_to_string(d.rules, ' '), 'not decided')"
	" FROM claim_lines l LEFT JOIN decisions d USING (claim_id, line_no)"
	" WHERE l.claim_id = $1 ORDER BY l.line_no";

static const char sql_payment[] =
	"SELECT p.payee, p.payee_ref, p.amount_cents, p.status, coalesce(p.run_id, ''),"
	" coalesce(to_char(p.paid_at, 'YYYY-MM-DD'), ''), coalesce(p.bank_reference, ''),"
	" coalesce(to_char(p.held_at, 'YYYY-MM-DD HH24:MI:SS'), ''), coalesce(p.hold_reason, '')"
	" FROM payments p WHERE p.claim_id = $1::uuid";

/* The claim's rows of the audit log and its payment's, oldest first:
 * each through the index on (entity, entity_id). */
static const char sql_history[] =
	"SELECT to_char(a.at, 'YYYY-MM-DD HH24:MI:SS'), a.action, a.actor,"
	" concat_ws(', ', a.detail->>'reason', 'line ' || (a.detail->>'line'),"
	"  'transfer ' || (a.detail->>'transfer'),"
	"  'complement ' || (a.detail->>'complement'))"
	" FROM audit_log a"
	" WHERE (a.entity = 'claim' AND a.entity_id = $1::text)"
	" OR (a.entity = 'payment' AND a.entity_id ="
	"  (SELECT p.payment_id::text FROM payments p WHERE p.claim_id = $1::uuid))"
	" ORDER BY a.at, a.audit_id";

/* What the member was told about the claim (the notify daemon's rows),
 * through the index on claim_id. */
static const char sql_told[] =
	"SELECT to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), n.template,"
	" m.membership_number"
	" FROM notifications n JOIN members m USING (member_id)"
	" WHERE n.claim_id = $1::uuid ORDER BY n.created_at, n.notification_id";

static const char sql_rejection[] =
	"SELECT reason_code, coalesce(field, ''), coalesce(message, ''),"
	" to_char(received_at, 'YYYY-MM-DD HH24:MI:SS')"
	" FROM claim_rejections WHERE source = $1 AND external_id = $2";

/* The lock intake takes on a key before reading its first answer (see
 * intake_store.c), then the rejection deleted. */
static const char sql_release_lock[] = "SELECT pg_advisory_xact_lock(" INTAKE_KEY_LOCK_CLASS
				       ", " INTAKE_KEY_HASH("$1::text", "$2::text") ")";
static const char sql_release[] =
	"DELETE FROM claim_rejections WHERE source = $1 AND external_id = $2"
	" RETURNING reason_code, coalesce(field, '')";

static void euros(const char *cents, char *out, size_t len)
{
	long long c;

	if (strcmp(cents, "-") == 0) {
		snprintf(out, len, "-");
		return;
	}
	c = strtoll(cents, NULL, 10);
	snprintf(out, len, "%lld.%02lld", c / 100, c % 100);
}

/* Where the claim's payment stands; "none" for a decided claim the AMC
 * paid nothing of (no payment is made then), "-" for one not decided
 * (queued, or in error: none of its lines decided). */
static int print_payment(struct pg *db, const char *id, const char *status)
{
	const char *v[1] = {id};
	PGresult *res;
	char amount[24];

	if (pg_exec_params(db, sql_payment, 1, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 0) {
		printf("payment      %s\n",
		       strcmp(status, "queued") == 0 || strcmp(status, "error") == 0
			       ? "-"
			       : "none (the AMC paid nothing)");
		PQclear(res);
		return OK;
	}
	euros(PQgetvalue(res, 0, 2), amount, sizeof(amount));
	printf("payment      %s to %s %s: %s", amount, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
	       PQgetvalue(res, 0, 3));
	if (strcmp(PQgetvalue(res, 0, 3), "paid") == 0)
		printf(" %s, reference %s", PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6));
	else if (strcmp(PQgetvalue(res, 0, 3), "held") == 0)
		printf(" since %s: %s", PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 8));
	if (PQgetvalue(res, 0, 4)[0] != '\0')
		printf(" (run %s)", PQgetvalue(res, 0, 4));
	printf("\n");
	PQclear(res);
	return OK;
}

/* What operators did to the claim and its payment, if anything. */
static int print_history(struct pg *db, const char *id)
{
	const char *v[1] = {id};
	PGresult *res;

	if (pg_exec_params(db, sql_history, 1, v, &res) != OK)
		return ERR;
	if (PQntuples(res) > 0)
		printf("\nhistory\n");
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s %s by %s%s%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2), PQgetvalue(res, i, 3)[0] ? ": " : "",
		       PQgetvalue(res, i, 3));
	PQclear(res);
	return OK;
}

/* What the member was told about it, if anything yet. */
static int print_told(struct pg *db, const char *id)
{
	const char *v[1] = {id};
	PGresult *res;

	if (pg_exec_params(db, sql_told, 1, v, &res) != OK)
		return ERR;
	if (PQntuples(res) > 0)
		printf("\ntold the member\n");
	for (int i = 0; i < PQntuples(res); i++)
		printf("%s UTC %s (member %s, in the app)\n", PQgetvalue(res, i, 0),
		       PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	PQclear(res);
	return OK;
}

/* A key without a claim: its rejection, if intake recorded one. */
static int print_rejection(struct pg *db, const char *source, const char *external_id)
{
	const char *v[2] = {source, external_id};
	PGresult *res;

	if (pg_exec_params(db, sql_rejection, 2, v, &res) != OK)
		return 1;
	if (PQntuples(res) == 0) {
		fprintf(stderr, "claimctl claim: no such claim, and no rejection of that key\n");
		PQclear(res);
		return 1;
	}
	printf("rejected     %s %s: %s\nsubmitted    %s %s\nreceived     %s\n",
	       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), source,
	       external_id, PQgetvalue(res, 0, 3));
	PQclear(res);
	return 0;
}

static int release(struct pg *db, const char *source, const char *external_id)
{
	const char *v[2] = {source, external_id};
	PGresult *res = NULL;
	int status;

	if (pg_begin(db) != OK)
		return 1;
	status = pg_exec_params(db, sql_release_lock, 2, v, NULL);
	if (status == OK)
		status = pg_exec_params(db, sql_release, 2, v, &res);
	if (status != OK || pg_commit(db) != OK) {
		pg_rollback(db);
		if (res != NULL)
			PQclear(res);
		return 1;
	}
	if (PQntuples(res) == 0) {
		fprintf(stderr, "claimctl claim release: no rejection of %s %s\n", source,
			external_id);
		PQclear(res);
		return 1;
	}
	printf("released %s %s (was %s %s): the next submission under it is decided anew\n", source,
	       external_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

/* By id (source and external_id NULL), or by source and external id (id
 * NULL): each by its own index. */
static int print_claim(struct pg *db, const char *id, const char *source, const char *external_id)
{
	const char *v[3] = {id, source, external_id};
	PGresult *res, *lines;
	int status;

	if (pg_exec_params(db, sql_claim, 3, v, &res) != OK)
		return 1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		if (id != NULL)
			fprintf(stderr, "claimctl claim: no claim %s\n", id);
		return id == NULL ? print_rejection(db, source, external_id) : 1;
	}
	printf("claim        %s\nstatus       %s%s%s\nsubmitted    %s %s\n"
	       "beneficiary  %s rank %s (%s), formula %s\npayee        %s\n"
	       "received     %s, decided %s\nprofessional %s\n",
	       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2)[0] ? ": " : "",
	       PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
	       PQgetvalue(res, 0, 5), PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7),
	       PQgetvalue(res, 0, 8), PQgetvalue(res, 0, 9), PQgetvalue(res, 0, 10),
	       PQgetvalue(res, 0, 11), PQgetvalue(res, 0, 12));
	if (PQgetvalue(res, 0, 13)[0] != '\0')
		printf("quote        %s (tiers payant)\n", PQgetvalue(res, 0, 13));
	if (PQgetvalue(res, 0, 14)[0] != '\0')
		printf("completed by %s (its undecided lines)\n", PQgetvalue(res, 0, 14));
	if (PQgetvalue(res, 0, 15)[0] != '\0')
		printf("complement of %s\n", PQgetvalue(res, 0, 15));
	v[0] = PQgetvalue(res, 0, 0);
	if (print_payment(db, v[0], PQgetvalue(res, 0, 1)) != OK ||
	    pg_exec_params(db, sql_lines, 1, v, &lines) != OK) {
		PQclear(res);
		return 1;
	}
	printf("\n%-4s %-18s %-10s %10s %10s %10s %10s  %s\n", "line", "category", "date",
	       "charged", "AMO paid", "AMC", "RAC", "rules");
	for (int i = 0; i < PQntuples(lines); i++) {
		char charged[24], amo[24], amc[24], rac[24];

		euros(PQgetvalue(lines, i, 3), charged, sizeof(charged));
		euros(PQgetvalue(lines, i, 4), amo, sizeof(amo));
		euros(PQgetvalue(lines, i, 5), amc, sizeof(amc));
		euros(PQgetvalue(lines, i, 6), rac, sizeof(rac));
		printf("%-4s %-18s %-10s %10s %10s %10s %10s  %s\n", PQgetvalue(lines, i, 0),
		       PQgetvalue(lines, i, 1), PQgetvalue(lines, i, 2), charged, amo, amc, rac,
		       PQgetvalue(lines, i, 7));
	}
	PQclear(lines);
	status = print_history(db, v[0]);
	if (status == OK)
		status = print_told(db, v[0]);
	PQclear(res);
	return status == OK ? 0 : 1;
}

static int claim_usage(FILE *out, int status)
{
	fprintf(out, "Usage: claimctl claim CLAIM_ID\n"
		     "       claimctl claim --external SOURCE EXTERNAL_ID\n"
		     "       claimctl claim release SOURCE EXTERNAL_ID  (forget a rejection: "
		     "the\n"
		     "                                                   key is decided anew)\n"
		     "       claimctl claim redecide CLAIM_ID...  (a claim in error or "
		     "partial,\n"
		     "                                             after the missing formula "
		     "version,\n"
		     "                                             or one still queued: sent "
		     "again)\n"
		     "       claimctl claim redecide -            (the claim ids one per line "
		     "on\n"
		     "                                             standard input)\n\n"
		     "Shows a claim's status and, per line, the amounts and the rules "
		     "applied.\n");
	return status;
}

int cmd_claim(int argc, char **argv)
{
	const char *dsn = claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN);
	struct pg *db;
	int status;

	if (argc >= 2 && strcmp(argv[1], "redecide") == 0)
		return claimctl_redecide(argc - 1, argv + 1);
	/* claim --help, claim release --help, or one anywhere after them:
	 * never a key to release nor a claim to look for. */
	for (int i = 1; i < argc; i++)
		if (claimctl_is_help(argv[i]))
			return claim_usage(stdout, 0);
	if (argc == 2 && uuid_valid(argv[1])) {
		if (pg_open(dsn, &db) != OK)
			return 1;
		status = print_claim(db, argv[1], NULL, NULL);
	} else if (argc == 4 && strcmp(argv[1], "--external") == 0) {
		if (pg_open(dsn, &db) != OK)
			return 1;
		status = print_claim(db, NULL, argv[2], argv[3]);
	} else if (argc == 4 && strcmp(argv[1], "release") == 0) {
		if (pg_open(dsn, &db) != OK)
			return 1;
		status = release(db, argv[2], argv[3]);
	} else {
		return claim_usage(stderr, EXIT_USAGE);
	}
	pg_close(db);
	return status;
}
