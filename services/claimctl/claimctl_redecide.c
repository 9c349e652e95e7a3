/*
 * NAME
 *	claimctl_redecide.c - claimctl claim redecide: decide again a claim
 *	that ended in error, complete one that ended partial, or send again
 *	one still queued
 *
 * SYNOPSIS
 *	claimctl claim redecide CLAIM_ID... | -
 *
 * DESCRIPTION
 *	A claim ends in 'error' when none of its lines could be decided,
 *	typically because no formula version was in force at the care date.
 *	Nothing was paid and no counter moved. Once the missing version is
 *	published, this command sends such a claim back to the reimbursement
 *	workers, rebuilt from what intake recorded (the claim, its lines, the
 *	beneficiary), with the flag that makes a worker read its formula
 *	versions again first.
 *
 *	For each claim, in one transaction: the claim row is locked and must
 *	be in 'error' with no decision; it goes back to 'queued'; a
 *	claims.accepted event joins the outbox (the daemons' relays publish
 *	it); an audit_log row records who asked. The worker decides it like
 *	any other claim and publishes a new reimbursements.computed event,
 *	which supersedes the earlier one that said ERROR.
 *
 *	The beneficiary's birth date and exemptions (C2S, maternity) are read
 *	as they are now, which is what intake itself would read for care
 *	submitted today; the lines are those intake recorded.
 *
 *	A claim in 'partial' is never decided again: its decided lines were
 *	paid and counted. It is completed instead, in one transaction: a new
 *	claim (the complement) with the same beneficiary, payee, reception
 *	time and quote, under the reserved source "complement" with the
 *	first claim's id as its external id, takes a copy of the lines that
 *	have no decision;
 *	claim_complements links the two (one complement per claim), the
 *	audit log records who asked, and the complement's claims.accepted
 *	event joins the outbox, flagged like the above. The workers decide it
 *	like any claim, with its own payment and event. A complement that
 *	ends partial can be completed in turn.
 *
 *	A claim that is 'complete' is never decided again, nor a 'partial'
 *	one already completed. A 'queued' one is sent again the same way,
 *	its event rebuilt from the records: its first event may have been
 *	dead-lettered (one that disagreed with the recorded claim, once the
 *	cause is mended) or lost. Sending it twice is harmless: the worker
 *	decides a claim once, and a later copy finds it decided.
 *
 *	Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR (default $USER) names the
 *	operator in the audit log.
 *
 * DIAGNOSTICS
 *	One line per claim on stdout, a database error included (its cause
 *	in the log, on stderr). Exit 0 when every claim was sent again, 1
 *	when one was not (not found, wrong status, database error; the
 *	others are still sent, over a session made again if it was cut),
 *	2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claimctl/claimctl.h"
#include "common/outbox.h"
#include "common/pg.h"
#include "common/pgarray.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "proto/claims.pb-c.h"

/* clang-format off */
static const char sql_claim[] =
	" SELECT cl.status, cl.contract_id, cl.beneficiary_id, cl.source, cl.external_id,"
	" cl.payee, p.id_value, m.membership_number, b.birth_date::text,"
	" b.exemptions::text, cl.trace_id,"
	" (SELECT count(*) FROM decisions d WHERE d.claim_id = cl.claim_id),"
	" (SELECT k.complement_id::text FROM claim_complements k WHERE k.claim_id = cl.claim_id)"
	" FROM claims cl JOIN beneficiaries b ON b.beneficiary_id = cl.beneficiary_id"
	" JOIN contracts c ON c.contract_id = cl.contract_id"
	" JOIN members m ON m.member_id = c.member_id"
	" LEFT JOIN professionals p ON p.professional_id = cl.professional_id"
	" WHERE cl.claim_id = $1::uuid FOR UPDATE OF cl";

/* Lines recorded before migration 008 hold 0 where the sender left the
 * BRSS and the rate to the act table: with an act code, 0 and 0 are
 * read as not given (a real 0 and 0 is an act the AMO does not cover,
 * which the act table prices the same way or refuses). */
static const char sql_lines[] =
	"SELECT l.line_no, l.line_ref, l.act_code, l.category, l.care_date::text, l.quantity,"
	" l.charged_cents, p.brss, p.rate, l.amo_paid_cents, l.optam, l.parcours, l.basket,"
	" l.price_limit_cents, array_to_string(l.lenses, ','), l.frame_charged_cents"
	" FROM claim_lines l JOIN claims c USING (claim_id),"
	" LATERAL (SELECT CASE WHEN legacy THEN NULL ELSE l.brss_cents END AS brss,"
	"  CASE WHEN legacy THEN NULL ELSE l.amo_rate END AS rate"
	"  FROM (SELECT l.act_code IS NOT NULL AND l.brss_cents = 0 AND l.amo_rate = 0"
	"   AND c.received_at < (SELECT applied_at FROM schema_migrations"
	"    WHERE name = '008_line_prices_as_given.sql') AS legacy) x) p"
	" WHERE l.claim_id = $1::uuid ORDER BY l.line_no";

/* Of the undecided lines, those whose care the contract no longer covers
 * (terminated since, or suspended from a day on or before the care, a
 * beneficiary's period closed), and how many others there are. The
 * workers judge coverage again when they decide (reimburse_batch.c,
 * covered()): they decide the others and leave these NOT_COVERED. Not a
 * professional's in tiers payant: the workers pay it whatever the
 * contract became, the care given on rights the mutuelle confirmed. */
static const char sql_uncovered[] =
	"SELECT coalesce(string_agg(line_no || ' (' || care_date || ')', ', '"
	"  ORDER BY line_no) FILTER (WHERE uncovered), ''),"
	" count(*) FILTER (WHERE NOT uncovered)"
	" FROM (SELECT l.line_no, l.care_date, cl.payee <> 'professional'"
	"  AND (c.status = 'suspended' AND l.care_date >= coalesce(c.suspended_from, '-infinity')"
	"   OR l.care_date < greatest(c.start_date, b.start_date)"
	"   OR l.care_date >= least(coalesce(c.end_date, 'infinity'),"
	"    coalesce(b.end_date, 'infinity'))) AS uncovered"
	" FROM claim_lines l JOIN claims cl USING (claim_id)"
	" JOIN contracts c ON c.contract_id = cl.contract_id"
	" JOIN beneficiaries b ON b.beneficiary_id = cl.beneficiary_id"
	" WHERE l.claim_id = $1::uuid AND NOT EXISTS"
	"  (SELECT 1 FROM decisions d WHERE d.claim_id = l.claim_id AND d.line_no = l.line_no)) x";

static const char sql_requeue[] =
	"WITH q AS (UPDATE claims SET status = 'queued', outcome_reason = NULL, decided_at = NULL"
	" WHERE claim_id = $1::uuid RETURNING claim_id)"
	" INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	" SELECT $2, 'redecide', 'claim', claim_id::text, jsonb_build_object('reason', $3::text)"
	" FROM q";
/* The complement of a partial claim: a copy of the claim and of its
 * undecided lines under a new id ($2), linked, and audited. Its source
 * is reserved ($4) and its external id the first claim's id: a sender's
 * own ids can never meet it. The lines keep their numbers; the
 * reception time is the first claim's, which also keeps sql_lines'
 * reading of lines recorded before 008; the quote cited, if any, too. */
static const char sql_complement[] =
	"WITH c AS (INSERT INTO claims (claim_id, source, source_kind, external_id, contract_id,"
	"  beneficiary_id, professional_id, payee, status, trace_id, received_at, quote_id)"
	" SELECT $2::uuid, $4, source_kind, claim_id::text, contract_id,"
	"  beneficiary_id, professional_id, payee, 'queued', trace_id, received_at, quote_id"
	" FROM claims WHERE claim_id = $1::uuid RETURNING claim_id, source, external_id),"
	" l AS (INSERT INTO claim_lines (claim_id, line_no, line_ref, act_code, category, care_date,"
	"  quantity, charged_cents, brss_cents, amo_rate, amo_paid_cents, optam, parcours, basket,"
	"  price_limit_cents, lenses, frame_charged_cents)"
	" SELECT c.claim_id, l.line_no, l.line_ref, l.act_code, l.category, l.care_date,"
	"  l.quantity, l.charged_cents, l.brss_cents, l.amo_rate, l.amo_paid_cents, l.optam,"
	"  l.parcours, l.basket, l.price_limit_cents, l.lenses, l.frame_charged_cents"
	" FROM claim_lines l, c WHERE l.claim_id = $1::uuid AND NOT EXISTS"
	"  (SELECT 1 FROM decisions d WHERE d.claim_id = l.claim_id AND d.line_no = l.line_no)"
	" RETURNING line_no),"
	" k AS (INSERT INTO claim_complements (claim_id, complement_id, actor)"
	"  SELECT $1::uuid, claim_id, $3 FROM c),"
	" a AS (INSERT INTO audit_log (actor, action, entity, entity_id, detail)"
	"  SELECT $3, 'complement', 'claim', $1, jsonb_build_object('complement', c.claim_id,"
	"   'lines', (SELECT array_agg(line_no ORDER BY line_no) FROM l)) FROM c)"
	" SELECT source, external_id FROM c";
/* clang-format on */

enum {
	C_STATUS,
	C_CONTRACT,
	C_BENEFICIARY,
	C_SOURCE,
	C_EXTERNAL,
	C_PAYEE,
	C_PROFESSIONAL,
	C_MEMBER,
	C_BIRTH,
	C_EXEMPTIONS,
	C_TRACE,
	C_DECISIONS,
	C_COMPLEMENT,
};

enum {
	L_NO,
	L_REF,
	L_ACT,
	L_CATEGORY,
	L_DATE,
	L_QUANTITY,
	L_CHARGED,
	L_BRSS,
	L_RATE,
	L_AMO_PAID,
	L_OPTAM,
	L_PARCOURS,
	L_BASKET,
	L_PRICE_LIMIT,
	L_LENSES,
	L_FRAME,
};

/* The text of a column, or NULL for SQL NULL (an absent optional field;
 * an empty string stays one). */
static char *text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* An optional integer column: has_ set when not NULL. */
static void opt_int(const PGresult *res, int row, int col, protobuf_c_boolean *has, int64_t *out)
{
	*has = !PQgetisnull(res, row, col);
	*out = *has ? strtoll(PQgetvalue(res, row, col), NULL, 10) : 0;
}

/* One ClaimLine from a row of sql_lines; strings point into the result.
 * lenses_buf holds the row's lenses, split in place. */
static void line_from_row(const PGresult *res, int r, Claims__ClaimLine *l, char *lenses_buf,
			  size_t buf_len, char *lens_ptrs[2])
{
	protobuf_c_boolean rate_given;
	int64_t rate;

	claims__claim_line__init(l);
	l->has_line_no = 1;
	l->line_no = (uint32_t)strtoul(PQgetvalue(res, r, L_NO), NULL, 10);
	l->line_ref = text_or_null(res, r, L_REF);
	l->act_code = text_or_null(res, r, L_ACT);
	l->category = PQgetvalue(res, r, L_CATEGORY);
	l->care_date = PQgetvalue(res, r, L_DATE);
	l->has_quantity = l->has_charged_cents = 1;
	l->quantity = (uint32_t)strtoul(PQgetvalue(res, r, L_QUANTITY), NULL, 10);
	l->charged_cents = strtoll(PQgetvalue(res, r, L_CHARGED), NULL, 10);
	/* Absent (NULL) when the sender left the pricing to the act table. */
	opt_int(res, r, L_BRSS, &l->has_brss_cents, &l->brss_cents);
	opt_int(res, r, L_RATE, &rate_given, &rate);
	l->has_amo_rate = rate_given;
	l->amo_rate = (uint32_t)rate;
	opt_int(res, r, L_AMO_PAID, &l->has_amo_paid_cents, &l->amo_paid_cents);
	l->has_optam = l->has_parcours = 1;
	l->optam = PQgetvalue(res, r, L_OPTAM)[0] == 't';
	l->parcours = PQgetvalue(res, r, L_PARCOURS)[0] == 't';
	l->basket = text_or_null(res, r, L_BASKET);
	opt_int(res, r, L_PRICE_LIMIT, &l->has_price_limit_cents, &l->price_limit_cents);
	opt_int(res, r, L_FRAME, &l->has_frame_charged_cents, &l->frame_charged_cents);
	snprintf(lenses_buf, buf_len, "%s", PQgetvalue(res, r, L_LENSES));
	if (lenses_buf[0] != '\0' && strchr(lenses_buf, ',') != NULL) {
		lens_ptrs[0] = lenses_buf;
		lens_ptrs[1] = strchr(lenses_buf, ',') + 1;
		lens_ptrs[1][-1] = '\0';
		l->n_lenses = 2;
		l->lenses = lens_ptrs;
	}
}

/* The claims.accepted event of the claim, as intake built it, flagged;
 * source and external_id are the claim's (a complement has its own). */
static int add_event(struct pg *db, const char *claim_id, const char *source,
		     const char *external_id, const PGresult *c, const PGresult *lines)
{
	Claims__ClaimAccepted a = CLAIMS__CLAIM_ACCEPTED__INIT;
	int n = PQntuples(lines), status;
	Claims__ClaimLine *copies = xcalloc((size_t)n, sizeof(*copies));
	Claims__ClaimLine **ptrs = xcalloc((size_t)n, sizeof(*ptrs));
	char(*lenses)[64] = xcalloc((size_t)n, sizeof(*lenses));
	char *(*lens_ptrs)[2] = xcalloc((size_t)n, sizeof(*lens_ptrs));
	char exemptions[128], *exempt_list[8];

	for (int r = 0; r < n; r++) {
		line_from_row(lines, r, &copies[r], lenses[r], sizeof(lenses[r]), lens_ptrs[r]);
		ptrs[r] = &copies[r];
	}
	snprintf(exemptions, sizeof(exemptions), "%s", PQgetvalue(c, 0, C_EXEMPTIONS));
	a.claim_id = (char *)claim_id;
	a.has_contract_id = a.has_beneficiary_id = a.has_payee = a.has_redecide = 1;
	a.contract_id = strtoll(PQgetvalue(c, 0, C_CONTRACT), NULL, 10);
	a.beneficiary_id = strtoll(PQgetvalue(c, 0, C_BENEFICIARY), NULL, 10);
	a.source = (char *)source;
	a.external_id = (char *)external_id;
	a.payee = strcmp(PQgetvalue(c, 0, C_PAYEE), "professional") == 0
			  ? CLAIMS__PAYEE__PAYEE_PROFESSIONAL
			  : CLAIMS__PAYEE__PAYEE_MEMBER;
	a.professional_id = text_or_null(c, 0, C_PROFESSIONAL);
	a.membership_number = PQgetvalue(c, 0, C_MEMBER);
	a.birth_date = PQgetvalue(c, 0, C_BIRTH);
	a.n_exemptions = pgarray_words(exemptions, exempt_list, 8);
	a.exemptions = exempt_list;
	a.n_lines = (size_t)n;
	a.lines = ptrs;
	a.redecide = 1;
	status = outbox_add(db, "claims.accepted", PQgetvalue(c, 0, C_CONTRACT),
			    CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED, &a.base,
			    text_or_null(c, 0, C_TRACE), "claimctl");
	free(lens_ptrs);
	free(lenses);
	free(ptrs);
	free(copies);
	return status;
}

/* Why a claim cannot be sent again, or NULL when it can. */
static const char *refusal(const PGresult *c, const PGresult *lines)
{
	const char *status;

	if (PQntuples(c) == 0)
		return "no such claim";
	if (PQntuples(lines) == 0)
		return "it has no lines";
	status = PQgetvalue(c, 0, C_STATUS);
	if (strcmp(status, "queued") == 0)
		return NULL; /* sent again: the worker decides it once */
	if (strcmp(status, "partial") == 0)
		return PQgetisnull(c, 0, C_COMPLEMENT) ? NULL : "partial, and already completed by";
	if (strcmp(status, "error") != 0)
		return "decided: its decided lines were paid and counted, it is never decided "
		       "again";
	if (strcmp(PQgetvalue(c, 0, C_DECISIONS), "0") != 0)
		return "in error but with decided lines: left for a person to look at";
	return NULL;
}

/* The COMMIT's answer lost, not necessarily the COMMIT: running the
 * command again says how the claim stands ("already completed by",
 * "decided"), or sends it (again: harmless, the worker decides a claim
 * once). */
#define COMMIT_UNKNOWN                                                               \
	"not known to be sent again: the commit's answer was lost (logged); run the" \
	" command again for this claim to see"

/* A claim in error goes back to the queue as it is; *said set when a
 * line was printed for it (sent, or the commit's outcome unknown). */
static int requeue(struct pg *db, const char *claim_id, const char *actor, const PGresult *c,
		   const PGresult *lines, int *said)
{
	const char *v[3] = {claim_id, actor, "claimctl claim redecide"};
	PGresult *res;

	if (add_event(db, claim_id, PQgetvalue(c, 0, C_SOURCE), PQgetvalue(c, 0, C_EXTERNAL), c,
		      lines) != OK ||
	    pg_exec_params(db, sql_requeue, 3, v, &res) != OK)
		return ERR;
	PQclear(res);
	if (pg_commit(db) != OK) {
		printf("%s %s\n", claim_id, COMMIT_UNKNOWN);
		*said = 1;
		return ERR;
	}
	printf("%s queued again (%d lines), formula versions to be read again\n", claim_id,
	       PQntuples(lines));
	*said = 1;
	return OK;
}

/* A partial claim is completed by a new claim holding its undecided
 * lines, read back as sql_lines gives them for the event. */
static int complete(struct pg *db, const char *claim_id, const char *actor, const PGresult *c)
{
	char complement_id[UUID_STR_LEN];
	const char *v[4] = {claim_id, complement_id, actor, CLAIMS_COMPLEMENT_SOURCE};
	const char *why = "database error (logged)";
	PGresult *made = NULL, *lines = NULL;

	uuid_v7(complement_id);
	if (pg_exec_params(db, sql_complement, 4, v, &made) != OK) {
		/* Another operator's completion committed while this one
		 * waited for the claim's lock: its statement saw none. */
		if (strcmp(pg_sqlstate(db), PG_UNIQUE_VIOLATION) == 0)
			why = "completed meanwhile by another command";
		goto refused;
	}
	if (pg_exec_params(db, sql_lines, 1, &v[1], &lines) != OK)
		goto refused;
	if (PQntuples(made) != 1 || PQntuples(lines) == 0) {
		why = "no undecided line";
		goto refused;
	}
	if (add_event(db, complement_id, PQgetvalue(made, 0, 0), PQgetvalue(made, 0, 1), c,
		      lines) != OK)
		goto refused;
	if (pg_commit(db) != OK) {
		printf("%s %s\n", claim_id, COMMIT_UNKNOWN);
		PQclear(lines);
		PQclear(made);
		return ERR;
	}
	printf("%s completed by %s (%d lines), formula versions to be read again\n", claim_id,
	       complement_id, PQntuples(lines));
	PQclear(lines);
	PQclear(made);
	return OK;
refused:
	printf("%s not completed: %s\n", claim_id, why);
	PQclear(lines);
	PQclear(made);
	return ERR;
}

/* One claim, one transaction, one line on stdout whatever happens: a
 * database error too is said, by the claim it befell (its cause in the
 * log). */
static int redecide_one(struct pg *db, const char *claim_id, const char *actor)
{
	PGresult *c = NULL, *lines = NULL, *uncovered = NULL;
	const char *why;
	int status = ERR, said = 0;

	if (pg_begin(db) != OK || pg_exec_params(db, sql_claim, 1, &claim_id, &c) != OK ||
	    pg_exec_params(db, sql_lines, 1, &claim_id, &lines) != OK)
		goto done;
	if ((why = refusal(c, lines)) != NULL) {
		printf("%s not sent again: %s%s%s\n", claim_id, why,
		       PQntuples(c) > 0 && !PQgetisnull(c, 0, C_COMPLEMENT) ? " " : "",
		       PQntuples(c) > 0 ? PQgetvalue(c, 0, C_COMPLEMENT) : "");
		said = 1;
		goto done;
	}
	if (pg_exec_params(db, sql_uncovered, 1, &claim_id, &uncovered) != OK)
		goto done;
	/* Nothing left that could be paid: sent again, the claim would end
	 * as it is. Still sent when queued: its outcome is yet to be said. */
	if (PQgetvalue(uncovered, 0, 0)[0] != '\0' &&
	    strcmp(PQgetvalue(uncovered, 0, 1), "0") == 0 &&
	    strcmp(PQgetvalue(c, 0, C_STATUS), "queued") != 0) {
		printf("%s not sent again: no longer covered on line(s) %s (contract ended or"
		       " suspended since): left for a person to look at\n",
		       claim_id, PQgetvalue(uncovered, 0, 0));
		said = 1;
		goto done;
	}
	if (PQgetvalue(uncovered, 0, 0)[0] != '\0')
		printf("%s note: no longer covered on line(s) %s (contract ended or suspended"
		       " since): the workers will leave them NOT_COVERED\n",
		       claim_id, PQgetvalue(uncovered, 0, 0));
	if (strcmp(PQgetvalue(c, 0, C_STATUS), "partial") == 0) {
		status = complete(db, claim_id, actor, c);
		said = 1; /* complete() says how it ended */
	} else {
		status = requeue(db, claim_id, actor, c, lines, &said);
	}
done:
	PQclear(uncovered);
	PQclear(lines);
	PQclear(c);
	if (status != OK)
		pg_rollback(db);
	if (!said)
		printf("%s not sent again: database error (logged)\n", claim_id);
	return status;
}

static void free_ids(char **ids, int n)
{
	for (int i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* The claim ids to send again: the arguments, or with "-" the lines of
 * standard input (what psql -At prints). NULL after a bad id. */
static char **read_ids(int argc, char **argv, int *n)
{
	char **ids = NULL, *line = NULL;
	size_t cap = 0, len = 0;
	ssize_t got;

	*n = 0;
	if (!(argc == 2 && strcmp(argv[1], "-") == 0)) {
		ids = xcalloc((size_t)argc, sizeof(*ids));
		for (int i = 1; i < argc; i++)
			ids[(*n)++] = xstrdup(argv[i]);
	} else {
		while ((got = getline(&line, &len, stdin)) > 0) {
			line[strcspn(line, "\r\n")] = '\0';
			if (line[0] == '\0')
				continue;
			if ((size_t)*n == cap) {
				cap = cap * 2 + 64;
				ids = xrealloc(ids, cap * sizeof(*ids));
			}
			ids[(*n)++] = xstrdup(line);
		}
		free(line);
		if (ids == NULL) /* nothing to send again: not a usage error */
			ids = xcalloc(1, sizeof(*ids));
	}
	for (int i = 0; i < *n; i++) {
		if (!uuid_valid(ids[i])) {
			fprintf(stderr, "claimctl claim redecide: not a claim id: %s\n", ids[i]);
			free_ids(ids, *n);
			return NULL;
		}
		uuid_lower(ids[i]);
	}
	return ids;
}

int claimctl_redecide(int argc, char **argv)
{
	const char *actor = claimctl_operator();
	struct pg *db;
	int status = OK, n;
	char **ids;

	if (argc < 2 || claimctl_is_help(argv[1])) {
		fprintf(argc == 2 ? stdout : stderr,
			"Usage: claimctl claim redecide CLAIM_ID... | -\n\n"
			"Sends a claim that ended in error (no line decided) back to the\n"
			"reimbursement workers, once the missing formula version is published;\n"
			"a claim that ended partial is completed by a new claim holding its\n"
			"undecided lines (its decided ones were paid and are never decided "
			"again).\n"
			"A claim still queued (its event dead-lettered, once the cause is\n"
			"mended, or lost) is sent again, its event rebuilt from the records;\n"
			"the workers decide a claim once, so sending it twice is harmless.\n"
			"With -, the claim ids are read from standard input, one a line (none: "
			"exit 0).\n"
			"A claim with undecided care its contract no longer covers (ended or\n"
			"suspended since) is not sent again.\n"
			"Settings: CLAIMS_PG_DSN; CLAIMS_OPERATOR [$USER] for the audit log.\n");
		return argc == 2 ? 0 : EXIT_USAGE;
	}
	if ((ids = read_ids(argc, argv, &n)) == NULL)
		return EXIT_USAGE;
	if (n == 0) {
		printf("no claim ids: nothing sent again\n");
		free(ids);
		return 0;
	}
	if (pg_open(claimctl_env("CLAIMS_PG_DSN", CLAIMCTL_PG_DSN), &db) != OK) {
		free_ids(ids, n);
		return 1;
	}
	if (outbox_prepare(db) == OK) {
		for (int i = 0; i < n; i++) {
			/* A session cut on one claim (a restart, a failover,
			 * an administrator's kill) is made again for the next:
			 * each is its own transaction. */
			if (pg_check(db) != OK) {
				printf("%s not sent again: database unreachable (logged)\n",
				       ids[i]);
				status = ERR;
			} else if (redecide_one(db, ids[i], actor) != OK) {
				status = ERR;
			}
		}
	} else {
		status = ERR;
	}
	pg_close(db);
	free_ids(ids, n);
	return status == OK ? 0 : 1;
}
