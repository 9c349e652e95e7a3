/*
 * NAME
 *	claimctl_payments.c - claimctl payments: what is owed, and what the
 *	bank has paid
 *
 * SYNOPSIS
 *	claimctl payments list [--status owed|pending|sent|paid|held|all]
 *	                       [--payee member|professional] [--limit N]
 *	claimctl payments export --run RUN [--payee member|professional] [--limit N]
 *	claimctl payments settle FILE
 *	claimctl payments return FILE
 *	claimctl payments hold --reason TEXT CLAIM_ID...
 *	claimctl payments release CLAIM_ID...
 *
 * DESCRIPTION
 *	Every decided claim with an AMC share above zero leaves one payment
 *	row (to the member, or to the professional in tiers payant),
 *	'pending'. The transfers themselves
 *	are made by the bank; this command is the treasury's side of it.
 *
 *	list prints the payments, oldest first, one per line: payment id,
 *	claim id, payee, payee reference, amount in cents, status, and last
 *	the bank reference of a paid one, "since DATE: REASON" for a held
 *	one, else "-". The default, owed, is every payment not yet paid
 *	(held ones too). At most
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
 *	payments it took the first time (but those held since: given back
 *	by the bank, they are not to be sent again) and takes no new ones: a file lost
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
 *	(paid by other means: the statement says so), never from 'held'. A statement read
 *	twice changes nothing. A transfer whose amount is
 *	not the payment's, for a claim without a payment, or for a payment
 *	already paid under another reference is refused: the money and the
 *	record disagree, and a person must look.
 *
 *	return reads the transfers the bank gave back (its rejection or
 *	return report), one per line, "CLAIM_ID AMOUNT_CENTS REASON
 *	TRANSFER": REASON the bank's ISO 20022 reason code (four of A-Z 0-9:
 *	AC04 an account closed, MD07 a payee deceased...), TRANSFER the
 *	transfer given back: the run the payment was sent in (the report's
 *	original message id), or the reference it was paid under (its
 *	original end-to-end id; the only name of a payment settled without a
 *	run). The payment, 'sent' or 'paid' by that transfer, becomes 'held'
 *	("returned by the bank: REASON"; a paid one loses its date and
 *	reference), with its PaymentReturned event on payments.settled (keyed
 *	by contract id, so it follows the settlement) and an audit_log row
 *	that keeps what it was. A transfer is given back once: read again,
 *	even after the payment is released and sent or paid anew, its line
 *	is answered as already returned. Answered in the file's order:
 *
 *	  CLAIM_ID returned AMOUNT REASON (sent in run RUN | paid under REF)
 *	  CLAIM_ID already returned REASON       (that transfer's return again)
 *	  CLAIM_ID refused WHY                   (nothing changed for it)
 *
 *	A held payment is owed still (list shows it, check counts it) but
 *	no export takes it, and an export of its run again leaves it out;
 *	settle refuses it. A transfer given back is never settled: an old
 *	statement naming it, read again, is answered "already paid REF,
 *	returned since (REASON)" (exit 0), whatever the payment is now.
 *
 *	hold stops pending payments from the next exports, with the
 *	operator's reason (a claim decided before a termination recorded
 *	late, a payee's bank details in doubt): "CLAIM_ID held AMOUNT", or
 *	"already held" for the same reason; a payment sent is at the bank
 *	and refused (its return is recorded by return). release makes held
 *	payments pending again, for a new run ("CLAIM_ID released AMOUNT",
 *	"already released" asked again).
 *	Both write an audit_log row for each payment (actor CLAIMS_OPERATOR).
 *	Statements and claim lists are taken in claim id order, in one
 *	transaction, answered in the given order, with the exit statuses of
 *	settle.
 *
 *	Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR (default $USER) names the
 *	operator who made a run (payment_runs.made_by), held, released or
 *	recorded a return (audit_log.actor).
 *
 * DIAGNOSTICS
 *	Exit 0 when every line (or claim) was done or already done; 1 when
 *	one was refused (the others are recorded), the database failed
 *	(nothing is; when the COMMIT's answer is lost, its outcome is
 *	unknown and the command says to run it again), or the answers could
 *	not be written whole (recorded: run the same command again to read
 *	them); 2 on bad usage, or when the file has a malformed line
 *	(nothing is read further; its number, blank lines counted, is said)
 *	or a NUL byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "claimctl/claimctl_statement.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/reimbursement.pb-c.h"

/* First key of the advisory lock an export takes on its run's name (the
 * second is its hash); see REIMBURSE_LOCK_CLASS for the others. */
#define PAYMENTS_RUN_LOCK_CLASS "7415004"
/* First key of the advisory locks settle takes on the references of its
 * statement (the second is their hash). */
#define PAYMENTS_REFERENCE_LOCK_CLASS "7415006"

static int usage_on(FILE *out)
{
	fprintf(out,
		"Usage: claimctl payments list [--status owed|pending|sent|paid|held|all]\n"
		"                              [--payee member|professional] [--limit N]\n"
		"       claimctl payments export --run RUN [--payee member|professional]"
		" [--limit N]\n"
		"       claimctl payments settle FILE   (lines: CLAIM_ID AMOUNT_CENTS REFERENCE;"
		" - for stdin)\n"
		"       claimctl payments return FILE   (lines: CLAIM_ID AMOUNT_CENTS REASON "
		"TRANSFER;"
		" - for stdin)\n"
		"       claimctl payments hold --reason TEXT CLAIM_ID...\n"
		"       claimctl payments release CLAIM_ID...\n"
		"Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR [$USER] names who made a run, held,\n"
		"released or recorded a return.\n");
	return out == stdout ? 0 : EXIT_USAGE;
}

static int usage(void)
{
	return usage_on(stderr);
}

/* ---- list ---------------------------------------------------------------------------------- */

/* What list and export print, one payment a line. */
#define PAYMENT_COLUMNS                                                        \
	"payment_id, claim_id, payee, payee_ref, amount_cents, status,"        \
	" coalesce(bank_reference, to_char(held_at, '\"since\" YYYY-MM-DD: ')" \
	" || hold_reason, '-')"

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
	const char *const statuses[] = {"owed", "pending", "sent", "paid", "held", "all"};
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
/* A payment held since (given back by the bank, stopped) is left out:
 * it is not to go to the bank again in this run. */
static const char sql_run_payments[] =
	"SELECT " PAYMENT_COLUMNS " FROM payments WHERE run_id = $1 AND status <> 'held'"
	" ORDER BY payment_id";
/* clang-format on */

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
	    !bank_id_ok(sel.own))
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

/* ---- statements and claim lists: one transaction, answered in order -------------------- */

/* One line of a bank statement (settle, return), or one claim named on
 * the command line (hold, release: only its claim id), and its answer,
 * printed once the transaction is committed. */
struct item {
	struct bank_line in;
	char *answer;
};

/* What each subcommand does to one item, inside the transaction: OK
 * with item->answer set (*refused set when nothing was done and a person
 * must look), ERR when the database failed. */
struct action {
	const char *name; /* "settle", ... */
	int (*apply)(struct pg *db, const struct action *a, struct item *it, int *refused);
	const char *reason; /* hold: the operator's reason */
	/* NULL, or what the transaction takes first, before any item */
	int (*begin)(struct pg *db, const struct item *t, int n);
};

/* Claim id order, then the given order (a claim given twice is done at
 * its first line, answered as already done at the next). */
static int by_claim(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;
	int c = strcmp(x->in.claim_id, y->in.claim_id);

	return c != 0 ? c : (x > y) - (x < y);
}

/* The answer of an item that matched nothing to do: done already (`done`
 * says how, e.g. "already paid R"), or, done NULL, refused for `why`. */
static void answer_undone(struct item *t, const char *done, const char *why, int *refused)
{
	if (done != NULL) {
		t->answer = xasprintf("%s %s", t->in.claim_id, done);
	} else {
		t->answer = xasprintf("%s refused %s", t->in.claim_id, why);
		*refused = 1;
	}
}

/*
 * The items, in one transaction, then their answers in the given order.
 * Payment rows are locked in claim id order, whatever the given order:
 * two commands at once over the same claims in other orders would each
 * hold a row the other waits for (a deadlock, one of them recording
 * nothing). Exit status as the DIAGNOSTICS above say.
 */
static int apply_all(const struct action *a, struct item *t, int n)
{
	struct item **order;
	struct pg *db;
	int refused = 0, status;

	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK)
		return 1;
	order = xcalloc((size_t)n + 1, sizeof(*order));
	for (int i = 0; i < n; i++)
		order[i] = &t[i];
	qsort(order, (size_t)n, sizeof(*order), by_claim);
	status = outbox_prepare(db) == OK ? pg_begin(db) : ERR;
	if (status == OK && a->begin != NULL)
		status = a->begin(db, t, n);
	for (int i = 0; status == OK && i < n; i++)
		status = a->apply(db, a, order[i], &refused);
	free(order);
	if (status != OK) {
		pg_rollback(db);
		fprintf(stderr, "claimctl payments %s: database error; nothing recorded\n",
			a->name);
	} else if ((status = pg_commit(db)) != OK) {
		/* The COMMIT's answer is lost, not necessarily the COMMIT:
		 * "nothing recorded" could be false, and asking again is
		 * harmless (what was recorded is answered as already done). */
		fprintf(stderr,
			"claimctl payments %s: the commit's outcome is unknown; run the same"
			" command again to see it\n",
			a->name);
	}
	pg_close(db);
	for (int i = 0; i < n; i++) {
		if (status == OK)
			printf("%s\n", t[i].answer);
		free(t[i].answer);
	}
	if (status == OK && claimctl_stdout_written("claimctl payments") != OK) {
		fprintf(stderr,
			"claimctl payments %s: recorded, but the answers were not written whole:"
			" run the same command again to read them (nothing is recorded twice)\n",
			a->name);
		return 1;
	}
	return status != OK || refused ? 1 : 0;
}

/* settle FILE and return FILE: the bank's statement, read whole first. */
static int apply_statement(const struct action *a, const char *path, enum bank_file kind)
{
	struct bank_line *lines;
	struct item *t;
	char *text;
	size_t len;
	int n, status;

	if (strcmp(path, "-") == 0 ? read_stream(stdin, CLAIMCTL_MAX_INPUT, &text, &len) != OK
				   : read_file(path, CLAIMCTL_MAX_INPUT, &text, &len) != OK) {
		fprintf(stderr, "claimctl payments %s: cannot read %s\n", a->name, path);
		return 1;
	}
	status = bank_file_parse(text, len, kind, &lines, &n, stderr);
	free(text);
	if (status != OK)
		return EXIT_USAGE;
	t = xcalloc((size_t)n + 1, sizeof(*t));
	for (int i = 0; i < n; i++)
		t[i].in = lines[i];
	free(lines);
	status = apply_all(a, t, n);
	free(t);
	return status;
}

/* ---- settle -------------------------------------------------------------------------------- */

/* Whether the bank gave back the payment p's transfer named `transfer`:
 * the run the payment was sent in, or the reference it was paid under.
 * A transfer is given back once, and for good: once its return is
 * recorded (the audit row keeps the run and the reference, which a
 * release clears from the row), neither the same return read again nor
 * an old statement naming it matches the payment, even once it is sent
 * or paid anew. */
#define RETURN_RECORDED(p, transfer)                                        \
	" FROM audit_log a WHERE a.entity = 'payment'"                      \
	" AND a.entity_id = " p ".payment_id::text AND a.action = 'return'" \
	" AND " transfer " IN (a.detail->>'run', a.detail->>'bank_reference')"
#define RETURNED_ALREADY(p, transfer) "EXISTS (SELECT 1" RETURN_RECORDED(p, transfer) ")"
/* The reason code of that return, '' when there was none. */
#define RETURN_REASON(p, transfer) \
	"coalesce((SELECT a.detail->>'reason'" RETURN_RECORDED(p, transfer) " LIMIT 1), '')"

/* clang-format off */
/* A held payment is not settled (the bank gave it back, or the treasury
 * stopped it: a statement saying otherwise needs a person), nor one by
 * a transfer the bank gave back. */
static const char sql_settle[] =
	"UPDATE payments p SET status = 'paid', paid_at = now(), bank_reference = $3"
	" FROM claims c"
	" WHERE p.claim_id = $1::uuid AND c.claim_id = p.claim_id"
	"  AND p.status IN ('pending', 'sent') AND p.amount_cents = $2::bigint"
	"  AND NOT " RETURNED_ALREADY("p", "$3")
	" RETURNING p.payment_id, c.contract_id, p.payee, p.payee_ref, p.amount_cents,"
	"  (extract(epoch FROM p.paid_at) * 1000000)::bigint, c.source, c.external_id,"
	"  c.trace_id";
/* clang-format on */

static int announce_settled(struct pg *db, PGresult *res, const struct item *t)
{
	Claims__PaymentSettled ev = CLAIMS__PAYMENT_SETTLED__INIT;
	const char *trace = PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8);

	ev.claim_id = (char *)t->in.claim_id;
	ev.has_payment_id = ev.has_contract_id = ev.has_amount_cents = ev.has_paid_at_us = 1;
	ev.payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ev.contract_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	ev.payee = PQgetvalue(res, 0, 2);
	ev.payee_ref = PQgetvalue(res, 0, 3);
	ev.amount_cents = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	ev.paid_at_us = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	ev.bank_reference = (char *)t->in.reference;
	ev.source = PQgetvalue(res, 0, 6);
	ev.external_id = PQgetvalue(res, 0, 7);
	return outbox_add(db, "payments.settled", PQgetvalue(res, 0, 1),
			  CLAIMS__MESSAGE_TYPE__PAYMENT_SETTLED, &ev.base, trace, "claimctl");
}

/*
 * The statement's references, each locked for the transaction, in their
 * order (two statements at once never wait for each other in a circle):
 * a statement settling under a reference runs alone, and sees every
 * payment settled under it before. So every payment a reference settles
 * is to one payee, which other_payee() relies on.
 */
static int lock_references(struct pg *db, const struct item *t, int n)
{
	struct pgarray refs;
	const char *v[1];
	int status;

	pgarray_init(&refs);
	for (int i = 0; i < n; i++)
		pgarray_text(&refs, t[i].in.reference);
	v[0] = pgarray_finish(&refs);
	status = pg_exec_params(db,
				"SELECT count(pg_advisory_xact_lock(" PAYMENTS_REFERENCE_LOCK_CLASS
				", hashtext(r))) FROM (SELECT DISTINCT r FROM unnest($1::text[]) r"
				" ORDER BY r OFFSET 0) s",
				1, v, NULL);
	pgarray_free(&refs);
	return status;
}

/* The claim of a payment to another payee already settled under the
 * transfer's reference, said in why ("" when none): a transfer goes to
 * one account, so that is a line copied with the wrong claim id. Every
 * payment a reference settles is to one payee (lock_references()), so
 * one of them tells: a transfer paying a pharmacy's thousand claims
 * reads one row a line, not all those settled before it. */
static int other_payee(struct pg *db, const struct item *t, char *why, size_t len)
{
	const char *v[2] = {t->in.claim_id, t->in.reference};
	PGresult *res;

	why[0] = '\0';
	if (pg_exec_params(db,
			   "SELECT o.claim_id::text FROM payments p, LATERAL (SELECT claim_id,"
			   "  payee, payee_ref FROM payments WHERE bank_reference = $2"
			   "  AND claim_id <> p.claim_id LIMIT 1) o"
			   " WHERE p.claim_id = $1::uuid"
			   " AND (o.payee, o.payee_ref) IS DISTINCT FROM (p.payee, p.payee_ref)",
			   2, v, &res) != OK)
		return ERR;
	if (PQntuples(res) > 0)
		snprintf(why, len,
			 "reference %s already settles a payment to another payee (claim %s)",
			 t->in.reference, PQgetvalue(res, 0, 0));
	PQclear(res);
	return OK;
}

/* clang-format off */
/* $1 claim, $2 reference: the payment as it is, and the reason code of
 * the bank's return of this very transfer, if it was given back since
 * ("": it was not). */
static const char sql_settle_why_not[] =
	"SELECT p.status, p.amount_cents, coalesce(p.bank_reference, ''),"
	" coalesce(p.hold_reason, ''), " RETURN_REASON("p", "$2")
	" FROM payments p WHERE p.claim_id = $1::uuid";
/* clang-format on */

/* What a claim without a payment is answered. */
#define NO_PAYMENT "no payment for this claim (not decided, or unknown)"

/* The row `sql` reads of a claim's payment ($1 the claim id), in *res;
 * *res NULL, and why saying so, when the claim has none. */
static int read_payment(struct pg *db, const char *sql, const char *const v[2], PGresult **res,
			char *why, size_t len)
{
	if (pg_exec_params(db, sql, 2, v, res) != OK)
		return ERR;
	if (PQntuples(*res) == 0) {
		PQclear(*res);
		*res = NULL;
		snprintf(why, len, "%s", NO_PAYMENT);
	}
	return OK;
}

/* Why a transfer matched no payment to settle, in why; *refusal unset
 * when it is the same transfer again (already paid under this
 * reference, possibly returned since: the statement and the record
 * agree). */
static int settle_why_not(struct pg *db, const struct item *t, char *why, size_t len, int *refusal)
{
	const char *v[2] = {t->in.claim_id, t->in.reference};
	const char *status, *amount, *reference, *returned;
	PGresult *res;

	*refusal = 1;
	if (read_payment(db, sql_settle_why_not, v, &res, why, len) != OK)
		return ERR;
	if (res == NULL)
		return OK;
	status = PQgetvalue(res, 0, 0);
	amount = PQgetvalue(res, 0, 1);
	reference = PQgetvalue(res, 0, 2);
	returned = PQgetvalue(res, 0, 4);
	why[0] = '\0';
	if (returned[0] != '\0') {
		*refusal = 0;
		snprintf(why, len, ", returned since (%s)", returned);
	} else if (strcmp(status, "paid") == 0 && strcmp(reference, t->in.reference) == 0 &&
		   strcmp(amount, t->in.amount) == 0) {
		*refusal = 0;
	} else if (strcmp(status, "paid") == 0 && strcmp(reference, t->in.reference) == 0)
		snprintf(why, len, "paid under %s for %s, not %s", t->in.reference, amount,
			 t->in.amount);
	else if (strcmp(status, "paid") == 0)
		snprintf(why, len, "already paid under %s", reference);
	else if (strcmp(status, "held") == 0)
		snprintf(why, len, "held (%s): release it before it is paid",
			 PQgetvalue(res, 0, 3));
	else
		snprintf(why, len, "amount %s differs from the payment's %s", t->in.amount, amount);
	PQclear(res);
	return OK;
}

static int settle_one(struct pg *db, const struct action *a, struct item *t, int *refused)
{
	const char *v[3] = {t->in.claim_id, t->in.amount, t->in.reference};
	char why[400], done[480];
	PGresult *res;
	int status, refusal;

	(void)a;
	if (other_payee(db, t, why, sizeof(why)) != OK)
		return ERR;
	if (why[0] != '\0') {
		answer_undone(t, NULL, why, refused);
		return OK;
	}
	if (pg_exec_params(db, sql_settle, 3, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 1) {
		status = announce_settled(db, res, t);
		PQclear(res);
		if (status == OK)
			t->answer = xasprintf("%s paid %s %s", t->in.claim_id, t->in.amount,
					      t->in.reference);
		return status;
	}
	PQclear(res);
	if (settle_why_not(db, t, why, sizeof(why), &refusal) != OK)
		return ERR;
	snprintf(done, sizeof(done), "already paid %s%s", t->in.reference, why);
	answer_undone(t, refusal ? NULL : done, why, refused);
	return OK;
}

/* ---- return -------------------------------------------------------------------------------- */

/* clang-format off */
/* $1 claim, $2 amount, $3 reason, $4 transfer, $5 operator. The payment
 * held; its former state read under its lock (a settlement at the same
 * moment is seen), and kept in the audit row. */
static const char sql_return[] =
	"WITH o AS (SELECT payment_id, status, run_id, bank_reference FROM payments p"
	"  WHERE claim_id = $1::uuid AND status IN ('sent', 'paid') AND amount_cents = $2::bigint"
	"  AND (run_id = $4 OR (status = 'paid' AND bank_reference = $4))"
	"  AND NOT " RETURNED_ALREADY("p", "$4") " FOR UPDATE),"
	" r AS (UPDATE payments p SET status = 'held', held_at = now(),"
	"  hold_reason = 'returned by the bank: ' || $3, paid_at = NULL, bank_reference = NULL"
	"  FROM o WHERE p.payment_id = o.payment_id"
	"  RETURNING p.*, o.status AS was, o.bank_reference AS was_reference),"
	" a AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	"  SELECT $5, 'return', 'payment', payment_id::text, jsonb_build_object("
	"   'claim_id', claim_id, 'reason', $3::text, 'transfer', $4::text, 'run', run_id,"
	"   'was', was, 'bank_reference', was_reference, 'amount_cents', amount_cents) FROM r)"
	" SELECT r.payment_id, c.contract_id, r.payee, r.payee_ref, r.amount_cents,"
	"  (extract(epoch FROM r.held_at) * 1000000)::bigint, c.source, c.external_id,"
	"  c.trace_id, r.was, coalesce(r.was_reference, ''), coalesce(r.run_id, '')"
	" FROM r JOIN claims c USING (claim_id)";
/* $1 claim, $2 transfer: the payment as it is, and the reason code of
 * that transfer's return if it was recorded already. */
static const char sql_return_why_not[] =
	"SELECT p.status, p.amount_cents, coalesce(p.run_id, ''), coalesce(p.bank_reference, ''),"
	" " RETURN_REASON("p", "$2")
	" FROM payments p WHERE p.claim_id = $1::uuid";
/* clang-format on */

static int announce_returned(struct pg *db, PGresult *res, const struct item *t)
{
	Claims__PaymentReturned ev = CLAIMS__PAYMENT_RETURNED__INIT;
	const char *trace = PQgetisnull(res, 0, 8) ? NULL : PQgetvalue(res, 0, 8);

	ev.claim_id = (char *)t->in.claim_id;
	ev.has_payment_id = ev.has_contract_id = ev.has_amount_cents = 1;
	ev.has_returned_at_us = ev.has_was_paid = 1;
	ev.payment_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	ev.contract_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	ev.payee = PQgetvalue(res, 0, 2);
	ev.payee_ref = PQgetvalue(res, 0, 3);
	ev.amount_cents = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	ev.returned_at_us = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	ev.source = PQgetvalue(res, 0, 6);
	ev.external_id = PQgetvalue(res, 0, 7);
	ev.reason = (char *)t->in.reason;
	ev.was_paid = strcmp(PQgetvalue(res, 0, 9), "paid") == 0;
	if (ev.was_paid)
		ev.bank_reference = PQgetvalue(res, 0, 10);
	return outbox_add(db, "payments.settled", PQgetvalue(res, 0, 1),
			  CLAIMS__MESSAGE_TYPE__PAYMENT_RETURNED, &ev.base, trace, "claimctl");
}

/* Why a return matched no payment, in why; *again set when it is the
 * same return again (why then holds the reason code recorded). */
static int return_why_not(struct pg *db, const struct item *t, char *why, size_t len, int *again)
{
	const char *v[2] = {t->in.claim_id, t->in.transfer};
	const char *status, *amount, *run, *reference;
	PGresult *res;

	*again = 0;
	if (read_payment(db, sql_return_why_not, v, &res, why, len) != OK)
		return ERR;
	if (res == NULL)
		return OK;
	status = PQgetvalue(res, 0, 0);
	amount = PQgetvalue(res, 0, 1);
	run = PQgetvalue(res, 0, 2);
	reference = PQgetvalue(res, 0, 3);
	*again = PQgetvalue(res, 0, 4)[0] != '\0';
	if (*again)
		snprintf(why, len, "%s", PQgetvalue(res, 0, 4));
	else if (strcmp(status, "pending") == 0 || strcmp(status, "held") == 0)
		snprintf(why, len, "the payment is %s: no transfer of it to return", status);
	else if (strcmp(run, t->in.transfer) != 0 && strcmp(reference, t->in.transfer) != 0)
		snprintf(why, len, "%s is not the payment's transfer (%s%s%s%s%s)", t->in.transfer,
			 run[0] ? "sent in run " : "", run, run[0] && reference[0] ? ", " : "",
			 reference[0] ? "paid under " : "", reference);
	else
		snprintf(why, len, "amount %s differs from the payment's %s", t->in.amount, amount);
	PQclear(res);
	return OK;
}

static int return_one(struct pg *db, const struct action *a, struct item *t, int *refused)
{
	const char *v[5] = {t->in.claim_id, t->in.amount, t->in.reason, t->in.transfer,
			    claimctl_operator()};
	char why[400], done[480];
	PGresult *res;
	int status, again;

	(void)a;
	if (pg_exec_params(db, sql_return, 5, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 1) {
		status = announce_returned(db, res, t);
		if (status == OK && strcmp(PQgetvalue(res, 0, 9), "paid") == 0)
			t->answer = xasprintf("%s returned %s %s (paid under %s)", t->in.claim_id,
					      t->in.amount, t->in.reason, PQgetvalue(res, 0, 10));
		else if (status == OK)
			t->answer = xasprintf("%s returned %s %s (sent in run %s)", t->in.claim_id,
					      t->in.amount, t->in.reason, PQgetvalue(res, 0, 11));
		PQclear(res);
		return status;
	}
	PQclear(res);
	if (return_why_not(db, t, why, sizeof(why), &again) != OK)
		return ERR;
	snprintf(done, sizeof(done), "already returned %s", why);
	answer_undone(t, again ? done : NULL, why, refused);
	return OK;
}

/* ---- hold, release ------------------------------------------------------------------------- */

/* clang-format off */
/* $1 claim, $2 operator, $3 reason: a pending payment kept from exports. */
static const char sql_hold[] =
	"WITH h AS (UPDATE payments SET status = 'held', held_at = now(), hold_reason = $3"
	"  WHERE claim_id = $1::uuid AND status = 'pending' RETURNING payment_id, amount_cents),"
	" a AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	"  SELECT $2, 'hold', 'payment', payment_id::text, jsonb_build_object("
	"   'claim_id', $1::text, 'reason', $3::text, 'amount_cents', amount_cents) FROM h)"
	" SELECT amount_cents FROM h";
/* $1 claim, $2 operator: a held payment pending again, for a new run;
 * what it was held for kept in the audit row. */
static const char sql_release[] =
	"WITH o AS (SELECT payment_id, hold_reason, held_at, run_id FROM payments"
	"  WHERE claim_id = $1::uuid AND status = 'held' FOR UPDATE),"
	" r AS (UPDATE payments p SET status = 'pending', held_at = NULL, hold_reason = NULL,"
	"  run_id = NULL, sent_at = NULL FROM o WHERE p.payment_id = o.payment_id"
	"  RETURNING p.payment_id, p.amount_cents, o.hold_reason, o.held_at, o.run_id),"
	" a AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	"  SELECT $2, 'release', 'payment', payment_id::text, jsonb_build_object("
	"   'claim_id', $1::text, 'held_for', hold_reason, 'held_at', held_at, 'run', run_id,"
	"   'amount_cents', amount_cents) FROM r)"
	" SELECT amount_cents FROM r";
/* clang-format on */

/* A payment's state, for an answer: in words, for a refusal ("no
 * payment..." when there is none); held for exactly the reason asked;
 * pending since its last release (a release asked again). */
struct payment_state {
	char words[400];
	int held_for_reason, released;
};

static int payment_state(struct pg *db, const char *claim_id, const char *reason,
			 struct payment_state *st)
{
	const char *v[1] = {claim_id};
	const char *status;
	PGresult *res;

	if (pg_exec_params(
		    db,
		    "SELECT status, coalesce(hold_reason, ''), coalesce(run_id, '-'),"
		    " coalesce(bank_reference, '-'), coalesce((SELECT a.action FROM audit_log a"
		    "  WHERE a.entity = 'payment' AND a.entity_id = p.payment_id::text"
		    "  ORDER BY a.audit_id DESC LIMIT 1), '')"
		    " FROM payments p WHERE claim_id = $1::uuid",
		    1, v, &res) != OK)
		return ERR;
	st->held_for_reason = st->released = 0;
	status = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
	if (status[0] == '\0') {
		snprintf(st->words, sizeof(st->words), "%s", NO_PAYMENT);
	} else if (strcmp(status, "held") == 0) {
		st->held_for_reason = reason != NULL && strcmp(PQgetvalue(res, 0, 1), reason) == 0;
		snprintf(st->words, sizeof(st->words), "held (%s)", PQgetvalue(res, 0, 1));
	} else if (strcmp(status, "sent") == 0) {
		snprintf(st->words, sizeof(st->words),
			 "sent in run %s: at the bank (its rejection or return is recorded by"
			 " payments return)",
			 PQgetvalue(res, 0, 2));
	} else if (strcmp(status, "paid") == 0) {
		snprintf(st->words, sizeof(st->words), "paid under %s", PQgetvalue(res, 0, 3));
	} else {
		st->released = strcmp(PQgetvalue(res, 0, 4), "release") == 0;
		snprintf(st->words, sizeof(st->words), "%s", status);
	}
	PQclear(res);
	return OK;
}

int claimctl_payment_hold(struct pg *db, const char *claim_id, const char *reason, char *amount,
			  size_t len)
{
	const char *v[3] = {claim_id, claimctl_operator(), reason};
	PGresult *res;

	if (pg_exec_params(db, sql_hold, 3, v, &res) != OK)
		return ERR;
	snprintf(amount, len, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return OK;
}

/* Held already for the same reason: asked twice, done once. */
static int hold_one(struct pg *db, const struct action *a, struct item *t, int *refused)
{
	struct payment_state st;
	char amount[24];

	if (claimctl_payment_hold(db, t->in.claim_id, a->reason, amount, sizeof(amount)) != OK)
		return ERR;
	if (amount[0] != '\0') {
		t->answer = xasprintf("%s held %s", t->in.claim_id, amount);
		return OK;
	}
	if (payment_state(db, t->in.claim_id, a->reason, &st) != OK)
		return ERR;
	answer_undone(t, st.held_for_reason ? "already held" : NULL, st.words, refused);
	return OK;
}

static int release_one(struct pg *db, const struct action *a, struct item *t, int *refused)
{
	const char *v[2] = {t->in.claim_id, claimctl_operator()};
	struct payment_state st;
	char why[420];
	PGresult *res;

	(void)a;
	if (pg_exec_params(db, sql_release, 2, v, &res) != OK)
		return ERR;
	if (PQntuples(res) == 1)
		t->answer = xasprintf("%s released %s", t->in.claim_id, PQgetvalue(res, 0, 0));
	PQclear(res);
	if (t->answer != NULL)
		return OK;
	if (payment_state(db, t->in.claim_id, NULL, &st) != OK)
		return ERR;
	snprintf(why, sizeof(why), "not held: %s", st.words);
	answer_undone(t, st.released ? "already released" : NULL, why, refused);
	return OK;
}

/* hold --reason TEXT CLAIM_ID... and release CLAIM_ID...: the claims
 * from argv[first], each a UUID; EXIT_USAGE when one is not. */
static int apply_claims(const struct action *a, int argc, char **argv, int first)
{
	struct item *t;
	int n = argc - first, status;

	if (n < 1)
		return usage();
	t = xcalloc((size_t)n, sizeof(*t));
	for (int i = 0; i < n; i++) {
		const char *id = argv[first + i];

		if (strlen(id) != UUID_STR_LEN - 1 || !uuid_valid(id)) {
			fprintf(stderr, "claimctl payments %s: claim id '%s' is not a UUID\n",
				a->name, id);
			free(t);
			return EXIT_USAGE;
		}
		snprintf(t[i].in.claim_id, sizeof(t[i].in.claim_id), "%s", id);
		uuid_lower(t[i].in.claim_id);
	}
	status = apply_all(a, t, n);
	free(t);
	return status;
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
	if (strcmp(sub, "settle") == 0 && argc == 3) {
		const struct action settle = {"settle", settle_one, NULL, lock_references};

		return apply_statement(&settle, argv[2], BANK_STATEMENT);
	}
	if (strcmp(sub, "return") == 0 && argc == 3) {
		const struct action give_back = {"return", return_one, NULL, NULL};

		return apply_statement(&give_back, argv[2], BANK_RETURNS);
	}
	if (strcmp(sub, "hold") == 0 && argc >= 5 && strcmp(argv[2], "--reason") == 0) {
		const struct action hold = {"hold", hold_one, argv[3], NULL};

		if (!claimctl_reason_ok(argv[3]))
			return usage();
		return apply_claims(&hold, argc, argv, 4);
	}
	if (strcmp(sub, "release") == 0) {
		const struct action release = {"release", release_one, NULL, NULL};

		return apply_claims(&release, argc, argv, 2);
	}
	return usage();
}
