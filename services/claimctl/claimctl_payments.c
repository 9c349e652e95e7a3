/*
 * NAME
 *	claimctl_payments.c - claimctl payments: what is owed, and what the
 *	bank has paid
 *
 * SYNOPSIS
 *	claimctl payments list [--status owed|pending|sent|paid|all]
 *	                       [--payee member|professional] [--limit N]
 *	claimctl payments export --run RUN [--payee member|professional] [--limit N]
 *	claimctl payments settle FILE
 *
 * DESCRIPTION
 *	Every decided claim with an AMC share above zero leaves one payment
 *	row (to the member, or to the professional in tiers payant),
 *	'pending'. The transfers themselves
 *	are made by the bank; this command is the treasury's side of it.
 *
 *	list prints the payments, oldest first, one per line: payment id,
 *	claim id, payee, payee reference, amount in cents, status, bank
 *	reference. The default, owed, is every payment not yet paid. At most
 *	N are printed (--limit, 1000 by default); when more match, stderr
 *	says so. Exit 0, or 1 when the database failed or the list was not
 *	written whole.
 *
 *	export takes the pending payments (oldest first, at most N, 1000 by
 *	default) into the run RUN, the id the treasury gives the transfer
 *	file (a SEPA id: up to 35 characters, no spaces), marks them 'sent' and prints
 *	them as list does: what goes to the bank. One transaction; payments
 *	another export is taking at the same moment are skipped, so two
 *	exports never share a payment. A run exported again prints the
 *	payments it took the first time and takes no new ones: a file lost
 *	or a command timed out is made again without paying anyone twice;
 *	asked with other options (--payee, --limit) it is refused. A run is
 *	recorded (payment_runs: what it was asked, by whom, how many
 *	payments, their sum) even when it took none. Exit 0 when the run was made or found
 *	as asked (possibly empty); 1 when refused or the database failed,
 *	or when the payments could not be written whole (a full disk): the
 *	run is recorded then, and exporting it again gives them.
 *
 *	settle reads the transfers the bank made (from its statement), one
 *	per line, "CLAIM_ID AMOUNT_CENTS REFERENCE" (the reference is the
 *	transfer's end-to-end id: up to 35 characters, no spaces; blank
 *	lines and lines starting with # are skipped), and marks each payment
 *	paid, with the date and the reference, together with its
 *	payments.settled event (PaymentSettled, keyed by contract id), in one
 *	transaction for the file, taking the payments in claim id order (two
 *	statements settled at once never deadlock). Each line is answered,
 *	in the file's order:
 *
 *	  CLAIM_ID paid AMOUNT REFERENCE
 *	  CLAIM_ID already paid REFERENCE        (the same transfer again)
 *	  CLAIM_ID refused REASON                (nothing changed for it)
 *
 *	A payment is settled from 'sent' (the usual way) or from 'pending'
 *	(paid by other means: the statement says so). A statement read
 *	twice changes nothing. A transfer whose amount is
 *	not the payment's, for a claim without a payment, or for a payment
 *	already paid under another reference is refused: the money and the
 *	record disagree, and a person must look.
 *
 *	Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR (default $USER) names the
 *	operator who made a run (payment_runs.made_by).
 *
 * DIAGNOSTICS
 *	Exit 0 when every line was paid or already paid; 1 when a line was
 *	refused (the others are recorded), the database failed (nothing
 *	is; when the COMMIT's answer is lost, its outcome is unknown and the
 *	command says to settle the statement again), or the answers could
 *	not be written whole (the statement is recorded: settle it again to
 *	read them); 2 when the file has a malformed line (nothing is read
 *	further; its number, blank lines counted, is said) or a NUL byte.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/reimbursement.pb-c.h"

#define REFERENCE_MAX 35 /* a SEPA end-to-end id */
/* First key of the advisory lock an export takes on its run's name (the
 * second is its hash); see REIMBURSE_LOCK_CLASS for the others. */
#define PAYMENTS_RUN_LOCK_CLASS "7415004"

static int usage_on(FILE *out)
{
	fprintf(out,
		"Usage: claimctl payments list [--status owed|pending|sent|paid|all]\n"
		"                              [--payee member|professional] [--limit N]\n"
		"       claimctl payments export --run RUN [--payee member|professional]"
		" [--limit N]\n"
		"       claimctl payments settle FILE   (lines: CLAIM_ID AMOUNT_CENTS REFERENCE;"
		" - for stdin)\n"
		"Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR [$USER] names who made a run.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

/* ---- list ---------------------------------------------------------------------------------- */

/* What list and export print, one payment a line. */
#define PAYMENT_COLUMNS                                                 \
	"payment_id, claim_id, payee, payee_ref, amount_cents, status," \
	" coalesce(bank_reference, '-')"

static void print_payments(const PGresult *res, int rows)
{
	for (int r = 0; r < rows; r++)
		printf("%s %s %s %s %s %s %s\n", PQgetvalue(res, r, 0), PQgetvalue(res, r, 1),
		       PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4),
		       PQgetvalue(res, r, 5), PQgetvalue(res, r, 6));
}

/* The options of list and export: `own` (--status, --run) and the
 * shared --payee and --limit, checked; ERR on bad usage. */
struct selection {
	const char *own, *payee, *limit;
};

static int parse_selection(int argc, char **argv, const char *own_option, struct selection *sel)
{
	if (argc % 2 != 0)
		return ERR;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], own_option) == 0)
			sel->own = argv[i + 1];
		else if (strcmp(argv[i], "--payee") == 0)
			sel->payee = argv[i + 1];
		else if (strcmp(argv[i], "--limit") == 0)
			sel->limit = argv[i + 1];
		else
			return ERR;
	}
	if (sel->limit[0] == '\0' || strlen(sel->limit) > 15 ||
	    strspn(sel->limit, "0123456789") != strlen(sel->limit) ||
	    (sel->payee != NULL && strcmp(sel->payee, "member") != 0 &&
	     strcmp(sel->payee, "professional") != 0))
		return ERR;
	return OK;
}

static int payments_list(int argc, char **argv)
{
	const char *const statuses[] = {"owed", "pending", "sent", "paid", "all"};
	struct selection sel = {"owed", NULL, "1000"};
	int known = 0, rc = 1;
	struct pg *db;
	PGresult *res;

	if (parse_selection(argc, argv, "--status", &sel) != OK)
		return usage();
	for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++)
		known |= strcmp(sel.own, statuses[k]) == 0;
	if (!known)
		return usage();
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	{
		const char *v[3] = {sel.own, sel.payee, sel.limit};

		if (pg_exec_params(db,
				   "SELECT " PAYMENT_COLUMNS " FROM payments"
				   " WHERE ($1 = 'all' OR ($1 = 'owed' AND status <> 'paid')"
				   "  OR status = $1) AND ($2::text IS NULL OR payee = $2)"
				   " ORDER BY payment_id LIMIT $3::bigint + 1",
				   3, v, &res) == OK) {
			/* One row past the limit tells a list cut short from
			 * one that ends there. */
			long long limit = strtoll(sel.limit, NULL, 10);
			int more = PQntuples(res) > limit;

			print_payments(res, more ? (int)limit : PQntuples(res));
			PQclear(res);
			rc = claimctl_stdout_written("claimctl payments") == OK ? 0 : 1;
			if (rc == 0 && more)
				fprintf(stderr,
					"claimctl payments list: stopped at --limit %lld;"
					" more payments match\n",
					limit);
		}
	}
	pg_close(db);
	return rc;
}

/* ---- export -------------------------------------------------------------------------------- */

/* clang-format off */
/* $1 run: what it was asked, if it was made. */
static const char sql_run_made[] =
	"SELECT coalesce(payee, ''), max_payments FROM payment_runs WHERE run_id = $1";
/* $1 run, $2 payee or NULL, $3 limit, $4 the operator (the column's
 * default, current_user, is the database role: the same for everyone). */
static const char sql_run_new[] =
	"INSERT INTO payment_runs (run_id, payee, max_payments, payments, amount_cents, made_by)"
	" VALUES ($1, $2, $3::bigint, 0, 0, $4)";
/* What it takes, as list prints it (column 4: the amount). */
static const char sql_run_take[] =
	"WITH taken AS (UPDATE payments p SET status = 'sent', run_id = $1, sent_at = now()"
	" WHERE p.payment_id IN (SELECT payment_id FROM payments"
	"  WHERE status = 'pending' AND ($2::text IS NULL OR payee = $2)"
	"  ORDER BY payment_id LIMIT $3::bigint FOR UPDATE SKIP LOCKED)"
	" RETURNING " PAYMENT_COLUMNS ")"
	" SELECT * FROM taken ORDER BY 1";
/* $1 run, $2 payments, $3 their sum. */
static const char sql_run_count[] =
	"UPDATE payment_runs SET payments = $2::int, amount_cents = $3::bigint WHERE run_id = $1";
static const char sql_run_payments[] =
	"SELECT " PAYMENT_COLUMNS " FROM payments WHERE run_id = $1 ORDER BY payment_id";
/* clang-format on */

/* A SEPA identifier (a transfer's end-to-end id, a run's message id): 1
 * to 35 characters of the SEPA set, no spaces. */
static int sepa_id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > REFERENCE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("/?:().,'+-", s[i]) == NULL)
			return 0;
	return 1;
}

/* A run already made, asked again: OK when asked the same way (*made
 * set), ERR (said why) when not. */
static int run_made_as_asked(struct pg *db, const char *const v[3], int *made)
{
	PGresult *res;
	int status = OK;

	if (pg_exec_params(db, sql_run_made, 1, v, &res) != OK)
		return ERR;
	*made = PQntuples(res) > 0;
	if (*made && (strcmp(PQgetvalue(res, 0, 0), v[1] ? v[1] : "") != 0 ||
		      strtoll(PQgetvalue(res, 0, 1), NULL, 10) != strtoll(v[2], NULL, 10))) {
		fprintf(stderr,
			"claimctl payments export: run %s was made with --payee %s --limit %s;"
			" asked again otherwise, it is refused (a new run needs a new id)\n",
			v[0], PQgetvalue(res, 0, 0)[0] ? PQgetvalue(res, 0, 0) : "(both)",
			PQgetvalue(res, 0, 1));
		status = ERR;
	}
	PQclear(res);
	return status;
}

/* In the caller's transaction: the run made (or found as asked), its
 * payments in *out. */
static int export_run(struct pg *db, const char *const v[3], PGresult **out)
{
	const char *lock[1] = {v[0]};
	const char *run[4] = {v[0], v[1], v[2], claimctl_operator()};
	int made;

	/* One export of a run at a time: the second one in finds it made. */
	if (pg_exec_params(
		    db, "SELECT pg_advisory_xact_lock(" PAYMENTS_RUN_LOCK_CLASS ", hashtext($1))",
		    1, lock, NULL) != OK ||
	    run_made_as_asked(db, v, &made) != OK)
		return ERR;
	if (made) /* read again by its id: a scan, for a file lost */
		return pg_exec_params(db, sql_run_payments, 1, v, out);
	if (pg_exec_params(db, sql_run_new, 4, run, NULL) != OK ||
	    pg_exec_params(db, sql_run_take, 3, v, out) != OK)
		return ERR;
	{
		char count[16], total[24];
		const char *c[3] = {v[0], count, total};
		long long sum = 0;

		for (int r = 0; r < PQntuples(*out); r++)
			sum += strtoll(PQgetvalue(*out, r, 4), NULL, 10);
		snprintf(count, sizeof(count), "%d", PQntuples(*out));
		snprintf(total, sizeof(total), "%lld", sum);
		if (pg_exec_params(db, sql_run_count, 3, c, NULL) != OK) {
			PQclear(*out);
			*out = NULL;
			return ERR;
		}
	}
	return OK;
}

static int payments_export(int argc, char **argv)
{
	struct selection sel = {NULL, NULL, "1000"};
	const char *run;
	struct pg *db;
	PGresult *res = NULL;
	int status;

	if (parse_selection(argc, argv, "--run", &sel) != OK || sel.own == NULL ||
	    !sepa_id_ok(sel.own))
		return usage();
	run = sel.own;
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	{
		const char *v[3] = {run, sel.payee, sel.limit};

		status = pg_begin(db);
		if (status == OK && (status = export_run(db, v, &res)) == OK &&
		    (status = pg_commit(db)) != OK) {
			/* The COMMIT's answer is lost, not necessarily the COMMIT. */
			fprintf(stderr,
				"claimctl payments export: the commit's outcome is unknown;"
				" export run %s again (the same options) to see it\n",
				run);
			PQclear(res);
			pg_close(db);
			return 1;
		}
		if (status != OK)
			pg_rollback(db);
	}
	pg_close(db);
	if (status != OK) {
		fprintf(stderr, "claimctl payments export: nothing taken\n");
		return 1;
	}
	print_payments(res, PQntuples(res));
	PQclear(res);
	if (claimctl_stdout_written("claimctl payments") != OK) {
		fprintf(stderr,
			"claimctl payments export: run %s is recorded and its payments marked sent,"
			" but the file was not written whole: export run %s again (the same"
			" options) for the same payments\n",
			run, run);
		return 1;
	}
	return 0;
}

/* ---- settle -------------------------------------------------------------------------------- */

/* One transfer of the bank's statement. */
struct transfer {
	char claim_id[UUID_STR_LEN];
	char amount[20];
	char reference[REFERENCE_MAX + 1];
	char *answer; /* printed once the file's transaction is committed */
};

/* "CLAIM_ID AMOUNT REFERENCE": ERR with a message on stderr. */
static int parse_transfer(char *line, int line_no, struct transfer *t)
{
	char *save = NULL, *f[4];
	int n = 0;

	for (char *tok = strtok_r(line, " \t\r", &save); tok != NULL && n < 4;
	     tok = strtok_r(NULL, " \t\r", &save))
		f[n++] = tok;
	if (n != 3) {
		fprintf(stderr, "line %d: expected CLAIM_ID AMOUNT_CENTS REFERENCE\n", line_no);
		return ERR;
	}
	if (strlen(f[0]) != UUID_STR_LEN - 1 || !uuid_valid(f[0])) {
		fprintf(stderr, "line %d: claim id '%s' is not a UUID\n", line_no, f[0]);
		return ERR;
	}
	uuid_lower(f[0]);
	if (strspn(f[1], "0123456789") != strlen(f[1]) || strlen(f[1]) > 15 || f[1][0] == '\0') {
		fprintf(stderr, "line %d: amount '%s' is not a whole number of cents\n", line_no,
			f[1]);
		return ERR;
	}
	if (!sepa_id_ok(f[2])) {
		fprintf(stderr,
			"line %d: reference '%s': 1 to %d of A-Z a-z 0-9 / ? : ( ) . , ' + -\n",
			line_no, f[2], REFERENCE_MAX);
		return ERR;
	}
	t->answer = NULL;
	snprintf(t->claim_id, sizeof(t->claim_id), "%s", f[0]);
	snprintf(t->amount, sizeof(t->amount), "%lld", strtoll(f[1], NULL, 10)); /* no leading 0 */
	snprintf(t->reference, sizeof(t->reference), "%s", f[2]);
	return OK;
}

/* The statement's transfers; ERR (said on stderr with the line's number
 * in the file, blank lines counted) on a malformed line. */
static int parse_statement(char *text, size_t len, struct transfer **out, int *count)
{
	struct transfer *t = NULL;
	int n = 0, cap = 0, line_no = 0;
	const char *nul = memchr(text, '\0', len);
	char *next;

	/* The lines after a NUL byte would go unread, as if the file ended
	 * there: not a statement to settle half of. */
	if (nul != NULL) {
		line_no = 1;
		for (const char *c = text; c < nul; c++)
			line_no += *c == '\n';
		fprintf(stderr, "line %d: a NUL byte: not a text statement\n", line_no);
		return ERR;
	}
	/* Split by hand: strtok_r would merge blank lines, and the numbers
	 * the errors give would no longer be the file's. */
	for (char *line = text; line != NULL; line = next) {
		char *end = strchr(line, '\n');

		next = end != NULL ? end + 1 : NULL;
		if (end != NULL)
			*end = '\0';
		line_no++;
		line += strspn(line, " \t\r");
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			t = xrealloc(t, (size_t)cap * sizeof(*t));
		}
		if (parse_transfer(line, line_no, &t[n]) != OK) {
			free(t);
			return ERR;
		}
		n++;
	}
	*out = t;
	*count = n;
	return OK;
}

/* clang-format off */
static const char sql_settle[] =
	"UPDATE payments p SET status = 'paid', paid_at = now(), bank_reference = $3"
	" FROM claims c"
	" WHERE p.claim_id = $1::uuid AND c.claim_id = p.claim_id"
	"  AND p.status <> 'paid' AND p.amount_cents = $2::bigint"
	" RETURNING p.payment_id, c.contract_id, p.payee, p.payee_ref, p.amount_cents,"
	"  (extract(epoch FROM p.paid_at) * 1000000)::bigint, c.source, c.external_id,"
	"  c.trace_id";
/* clang-format on */

static int announce(struct pg *db, PGresult *res, const struct transfer *t)
{
	Claims__PaymentSettled ev = CLAIMS__PAYMENT_SETTLED__INIT;
	const char *trace = PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8);

	ev.claim_id = (char *)t->claim_id;
	ev.has_payment_id = ev.has_contract_id = ev.has_amount_cents = ev.has_paid_at_us = 1;
	ev.payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ev.contract_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	ev.payee = PQgetvalue(res, 0, 2);
	ev.payee_ref = PQgetvalue(res, 0, 3);
	ev.amount_cents = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	ev.paid_at_us = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	ev.bank_reference = (char *)t->reference;
	ev.source = PQgetvalue(res, 0, 6);
	ev.external_id = PQgetvalue(res, 0, 7);
	return outbox_add(db, "payments.settled", PQgetvalue(res, 0, 1),
			  CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ev.base, trace, "claimctl");
}

/* The claim of a payment to another payee already settled under the
 * transfer's reference, said in why ("" when none): a transfer goes to
 * one account, so that is a line copied with the wrong claim id. */
static int other_payee(struct pg *db, const struct transfer *t, char *why, size_t len)
{
	const char *v[2] = {t->claim_id, t->reference};
	PGresult *res;

	why[0] = '\0';
	if (pg_exec_params(db,
			   "SELECT o.claim_id::text FROM payments p JOIN payments o"
			   " ON o.bank_reference = $2 AND o.claim_id <> p.claim_id"
			   " AND (o.payee, o.payee_ref) IS DISTINCT FROM (p.payee, p.payee_ref)"
			   " WHERE p.claim_id = $1::uuid LIMIT 1",
			   2, v, &res) != OK)
		return ERR;
	if (PQntuples(res) > 0)
		snprintf(why, len,
			 "reference %s already settles a payment to another payee (claim %s)",
			 t->reference, PQgetvalue(res, 0, 0));
	PQclear(res);
	return OK;
}

/* Why a transfer matched no payment to settle: "" when it is the same
 * transfer again (already paid under this reference). */
static int why_not(struct pg *db, const struct transfer *t, char *why, size_t len)
{
	const char *v[1] = {t->claim_id};
	PGresult *res;

	if (pg_exec_params(db,
			   "SELECT status, amount_cents, coalesce(bank_reference, '') FROM payments"
			   " WHERE claim_id = $1::uuid",
			   1, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 0)
		snprintf(why, len, "no payment for this claim (not decided, or unknown)");
	else if (strcmp(PQgetvalue(res, 0, 0), "paid") == 0 &&
		 strcmp(PQgetvalue(res, 0, 2), t->reference) == 0 &&
		 strcmp(PQgetvalue(res, 0, 1), t->amount) == 0)
		why[0] = '\0';
	else if (strcmp(PQgetvalue(res, 0, 0), "paid") == 0 &&
		 strcmp(PQgetvalue(res, 0, 2), t->reference) == 0)
		snprintf(why, len, "paid under %s for %s, not %s", t->reference,
			 PQgetvalue(res, 0, 1), t->amount);
	else if (strcmp(PQgetvalue(res, 0, 0), "paid") == 0)
		snprintf(why, len, "already paid under %s", PQgetvalue(res, 0, 2));
	else
		snprintf(why, len, "amount %s differs from the payment's %s", t->amount,
			 PQgetvalue(res, 0, 1));
	PQclear(res);
	return OK;
}

/* One transfer, inside the file's transaction; *refused is set when the
 * record and the money disagree. */
static int settle_one(struct pg *db, struct transfer *t, int *refused)
{
	const char *v[3] = {t->claim_id, t->amount, t->reference};
	char why[160];
	PGresult *res;
	int status;

	if (other_payee(db, t, why, sizeof(why)) != OK)
		return ERR;
	if (why[0] != '\0') {
		t->answer = xasprintf("%s refused %s", t->claim_id, why);
		*refused = 1;
		return OK;
	}
	if (pg_exec_params(db, sql_settle, 3, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 1) {
		status = announce(db, res, t);
		PQclear(res);
		if (status == OK)
			t->answer =
				xasprintf("%s paid %s %s", t->claim_id, t->amount, t->reference);
		return status;
	}
	PQclear(res);
	if (why_not(db, t, why, sizeof(why)) != OK)
		return ERR;
	if (why[0] == '\0') {
		t->answer = xasprintf("%s already paid %s", t->claim_id, t->reference);
	} else {
		t->answer = xasprintf("%s refused %s", t->claim_id, why);
		*refused = 1;
	}
	return OK;
}

/* Claim id order, then file order (a transfer given twice is answered
 * 'paid' at its first line, 'already paid' at the next). */
static int by_claim(const void *a, const void *b)
{
	const struct transfer *x = *(const struct transfer *const *)a;
	const struct transfer *y = *(const struct transfer *const *)b;
	int c = strcmp(x->claim_id, y->claim_id);

	return c != 0 ? c : (x > y) - (x < y);
}

static int payments_settle(const char *path)
{
	struct transfer *t, **order;
	struct pg *db;
	char *text;
	size_t len;
	int n, refused = 0, status;

	if (strcmp(path, "-") == 0 ? read_stream(stdin, CLAIMCTL_MAX_INPUT, &text, &len) != OK
				   : read_file(path, CLAIMCTL_MAX_INPUT, &text, &len) != OK) {
		fprintf(stderr, "claimctl payments settle: cannot read %s\n", path);
		return 1;
	}
	status = parse_statement(text, len, &t, &n);
	free(text);
	if (status != OK)
		return EXIT_USAGE;
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK) {
		free(t);
		return 1;
	}
	/* Payment rows are locked in claim id order, whatever the file's:
	 * two statements settled at once over the same claims in other
	 * orders would each hold a row the other waits for (a deadlock, one
	 * of them recording nothing). Answers keep the file's order. */
	order = xcalloc((size_t)n + 1, sizeof(*order));
	for (int i = 0; i < n; i++)
		order[i] = &t[i];
	qsort(order, (size_t)n, sizeof(*order), by_claim);
	status = outbox_prepare(db) == OK ? pg_begin(db) : ERR;
	for (int i = 0; status == OK && i < n; i++)
		status = settle_one(db, order[i], &refused);
	free(order);
	if (status != OK) {
		pg_rollback(db);
		fprintf(stderr, "claimctl payments settle: database error; nothing recorded\n");
	} else if ((status = pg_commit(db)) != OK) {
		/* The COMMIT's answer is lost, not necessarily the COMMIT:
		 * "nothing recorded" could be false, and settling again is
		 * harmless (what was recorded is answered 'already paid'). */
		fprintf(stderr, "claimctl payments settle: the commit's outcome is unknown; settle"
				" the same statement again to see it\n");
	}
	pg_close(db);
	for (int i = 0; i < n; i++) {
		if (status == OK)
			printf("%s\n", t[i].answer);
		free(t[i].answer);
	}
	free(t);
	if (status == OK && claimctl_stdout_written("claimctl payments") != OK) {
		fprintf(stderr,
			"claimctl payments settle: the statement is recorded, but its answers"
			" were not written whole: settle it again to read them (nothing is"
			" recorded twice: what it paid is answered 'already paid')\n");
		return 1;
	}
	return status != OK || refused ? 1 : 0;
}

int cmd_payments(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (claimctl_wants_help(argc, argv))
		return usage_on(stdout);
	if (strcmp(sub, "list") == 0)
		return payments_list(argc, argv);
	if (strcmp(sub, "export") == 0)
		return payments_export(argc, argv);
	if (strcmp(sub, "settle") == 0 && argc == 3)
		return payments_settle(argv[2]);
	return usage();
}
