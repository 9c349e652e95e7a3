/*
 * NAME
 *	intake_store.c - record a batch of submissions: claims, rejections,
 *	events
 *
 * DESCRIPTION
 *	intake_submit_batch() decides a batch inside the caller's
 *	transaction, in a fixed number of round trips to PostgreSQL whatever
 *	the size of the batch:
 *
 *	1. checks that need no database (intake_check.c);
 *	2. the first answers to submissions already seen (same source and
 *	   external id): they are answered again and change nothing; a
 *	   repeat inside the batch gets the answer of its first copy;
 *	3. the beneficiaries and their contracts, and the professionals, of
 *	   the whole batch, in one query each;
 *	4. the accepted claims with their lines and their claims.accepted
 *	   events (keyed by contract id) in ONE statement of data-modifying
 *	   CTEs; the rejections and their claims.rejected events in another.
 *
 *	Two intake replicas racing on the same submission are put in line
 *	by a transaction-scoped advisory lock on its key (source, external
 *	id), taken before the first answers are read: the second reads the
 *	first's answer once it committed. Without it, one could accept
 *	(claims) while the other rejected (claim_rejections, another table,
 *	so no unique key meets): one key, two answers, a claim paid that its
 *	sender was told was refused. The unique keys stay as the last guard:
 *	a loser there inserts nothing (ON CONFLICT DO NOTHING, and its event
 *	is written only for rows actually inserted) and reads the winner's
 *	answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/beneficiary.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/pgarray.h"
#include "common/xalloc.h"
#include "intake/intake.h"

static const char *const source_kinds[] = {"unknown", "amo", "facility", "tiers_payant", "member"};

/* clang-format off */
static const char sql_insert_claims[] =
	"WITH c AS ("
	" INSERT INTO claims (claim_id, source, source_kind, external_id, contract_id,"
	"  beneficiary_id, professional_id, payee, status, trace_id, quote_id, content_digest)"
	" SELECT x.claim_id, x.source, x.kind, x.external_id, x.contract_id, x.beneficiary_id,"
	"  x.professional, x.payee, 'queued', x.trace_id, x.quote_id, decode(x.digest, 'hex')"
	" FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[],"
	"  $7::bigint[], $8::text[], $9::text[], $32::uuid[], $33::text[]) AS x(claim_id, source,"
	"  kind, external_id, contract_id, beneficiary_id, professional, payee, trace_id, quote_id,"
	"  digest)"
	" ON CONFLICT (source, external_id) DO NOTHING RETURNING claim_id),"
	" l AS ("
	" INSERT INTO claim_lines (claim_id, line_no, line_ref, act_code, category, care_date,"
	"  quantity, charged_cents, brss_cents, amo_rate, amo_paid_cents, optam, parcours,"
	"  basket, price_limit_cents, lenses, frame_charged_cents)"
	" SELECT y.claim_id, y.line_no, y.line_ref, y.act_code, y.category, y.care_date,"
	"  y.quantity, y.charged, y.brss, y.rate, y.amo_paid, y.optam, y.parcours, y.basket,"
	"  y.price_limit, string_to_array(NULLIF(y.lenses, ''), ','), y.frame"
	" FROM unnest($10::uuid[], $11::int[], $12::text[], $13::text[], $14::text[],"
	"  $15::date[], $16::int[], $17::bigint[], $18::bigint[], $19::int[], $20::bigint[],"
	"  $21::bool[], $22::bool[], $23::text[], $24::bigint[], $25::text[], $26::bigint[])"
	"  AS y(claim_id, line_no, line_ref, act_code, category, care_date, quantity, charged,"
	"  brss, rate, amo_paid, optam, parcours, basket, price_limit, lenses, frame)"
	" WHERE y.claim_id IN (SELECT claim_id FROM c)),"
	" o AS ("
	" INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
	" SELECT e.id, 'claims.accepted', e.key, $27, decode(e.payload, 'hex')"
	" FROM unnest($28::uuid[], $29::uuid[], $30::text[], $31::text[]) WITH ORDINALITY"
	"  AS e(claim_id, id, key, payload, n)"
	" WHERE e.claim_id IN (SELECT claim_id FROM c) ORDER BY e.n)"
	" SELECT claim_id::text FROM c";

static const char sql_insert_rejections[] =
	"WITH r AS ("
	" INSERT INTO claim_rejections (rejection_id, source, external_id, reason_code, field,"
	"  message, content_digest)"
	" SELECT x.id, x.source, x.ext, x.code, x.field, x.message, decode(x.digest, 'hex')"
	" FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
	"  $11::text[]) AS x(id, source, ext, code, field, message, digest)"
	" ON CONFLICT DO NOTHING RETURNING rejection_id),"
	" o AS (INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
	" SELECT e.id, 'claims.rejected', e.key, $7, decode(e.payload, 'hex')"
	" FROM unnest($1::uuid[], $8::uuid[], $9::text[], $10::text[]) WITH ORDINALITY"
	"  AS e(rejection_id, id, key, payload, n)"
	" WHERE e.rejection_id IN (SELECT rejection_id FROM r) ORDER BY e.n)"
	" SELECT rejection_id::text FROM r";
/* clang-format on */

/*
 * The beneficiary rows of each submission's member, on each of the
 * member's contracts: beneficiary_choose() (common/beneficiary.h) names
 * the one the rank and birth date designate, as the tiers-payant front
 * door does for the quote before the invoice. A family on a contract or
 * two: a few rows, read through the indexes from the membership number.
 * $2 is the rank to keep, 0 for every row: without a birth date the
 * chooser looks only at the rows of the rank asked (the subscriber's,
 * none asked), so only they are read out, one a contract for most
 * claims rather than the whole family's.
 */
static const char sql_coverage[] =
	"SELECT x.n, b.beneficiary_id, b.contract_id, b.birth_date::text, b.exemptions::text,"
	" greatest(c.start_date, b.start_date) - date '1970-01-01',"
	" least(coalesce(c.end_date - date '1970-01-01', 2147483647),"
	"       coalesce(b.end_date - date '1970-01-01', 2147483647)),"
	" c.status = 'suspended',"
	" coalesce(c.suspended_from - date '1970-01-01', -2147483648),"
	" b.person_id, b.rank, c.start_date - date '1970-01-01'"
	" FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS x(num, rank, n)"
	" JOIN members m ON m.membership_number = x.num"
	" JOIN contracts c ON c.member_id = m.member_id"
	" JOIN beneficiaries b ON b.contract_id = c.contract_id"
	"  AND (x.rank = 0 OR b.rank = x.rank)"
	" ORDER BY x.n";

int intake_prepare(struct pg *db)
{
	/* The rejection is looked up per key (LATERAL, LIMIT 1: not pulled
	 * up into a join): joined, a few rows of claim_rejections made the
	 * planner read its partial index whole into a hash at every batch. */
	/* Keys in one order (of their hash) in every replica: no deadlock.
	 * Two keys of one hash only wait for each other. */
	if (pg_prepare(
		    db, "intake_lock_keys",
		    "SELECT count(pg_advisory_xact_lock(" INTAKE_KEY_LOCK_CLASS ", h))"
		    " FROM (SELECT DISTINCT " INTAKE_KEY_HASH(
			    "x.source",
			    "x.ext") " AS h FROM unnest($1::text[], $2::text[]) AS x(source, ext)"
				     "  WHERE x.source <> '' ORDER BY h) q",
		    2) != OK ||
	    pg_prepare(db, "intake_first_answers",
		       "SELECT x.n, c.claim_id::text, r.reason_code, r.field, r.message,"
		       " encode(coalesce(c.content_digest, r.content_digest), 'hex')"
		       " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(source, ext, n)"
		       " LEFT JOIN claims c ON c.source = x.source AND c.external_id = x.ext"
		       " LEFT JOIN LATERAL (SELECT reason_code, field, message, content_digest"
		       "  FROM claim_rejections"
		       "  WHERE source = x.source AND external_id = x.ext LIMIT 1) r ON true"
		       " WHERE c.claim_id IS NOT NULL OR r.reason_code IS NOT NULL",
		       2) != OK ||
	    pg_prepare(db, "intake_coverage", sql_coverage, 2) != OK ||
	    /* For a line the claim's contract does not cover: another
	     * contract of the same person that does (the same conditions
	     * as intake_check_coverage(), in SQL). */
	    pg_prepare(db, "intake_other_contracts",
		       "SELECT x.n FROM unnest($1::bigint[], $2::date[])"
		       "  WITH ORDINALITY AS x(beneficiary, day, n)"
		       " WHERE EXISTS (SELECT 1 FROM beneficiaries me"
		       "  JOIN contracts mc ON mc.contract_id = me.contract_id"
		       "  JOIN beneficiaries b ON b.person_id = me.person_id"
		       "   AND b.contract_id <> me.contract_id"
		       "  JOIN contracts c ON c.contract_id = b.contract_id"
		       "   AND c.member_id = mc.member_id" /* a claim is one member's */
		       "  WHERE me.beneficiary_id = x.beneficiary"
		       "   AND x.day >= greatest(c.start_date, b.start_date)"
		       "   AND x.day < least(coalesce(c.end_date, 'infinity'),"
		       "    coalesce(b.end_date, 'infinity'))"
		       "   AND NOT (c.status = 'suspended' AND x.day >= coalesce(c.suspended_from,"
		       "    '-infinity')))",
		       2) != OK ||
	    /* The registers named (all three when the kind is not given)
	     * make the number a key of the unique index, which begins with
	     * the register: by the number alone, every batch read the
	     * whole table (34 ms a batch for 300,000 professionals). */
	    pg_prepare(db, "intake_professionals",
		       "SELECT x.n, min(p.professional_id), count(*)"
		       " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(num, kind, n)"
		       " JOIN professionals p ON p.id_kind IN ('RPPS', 'ADELI', 'FINESS')"
		       "  AND p.id_value = x.num AND (x.kind IS NULL OR p.id_kind = x.kind)"
		       " GROUP BY x.n",
		       2) != OK ||
	    /* A quote's last day lasts while it is that day anywhere on
	     * earth (UTC-12): the professionals of the overseas
	     * departments are hours behind the server's UTC. */
	    pg_prepare(db, "intake_quotes",
		       "SELECT q.quote_id::text, coalesce(b.person_id, -1), q.professional_id,"
		       " q.valid_until < (now() AT TIME ZONE 'UTC' - interval '12 hours')::date"
		       " FROM quotes q LEFT JOIN beneficiaries b USING (beneficiary_id)"
		       " WHERE q.quote_id = ANY($1::uuid[])",
		       1) != OK ||
	    /* Of the quotes not stored, those made before the last
	     * purge's cut: ids of version 7, whose first bits are the
	     * time they were made (migration 030). */
	    pg_prepare(db, "intake_quotes_purged",
		       "SELECT x.id::text FROM unnest($1::uuid[]) AS x(id)"
		       " WHERE substr(x.id::text, 15, 1) = '7'"
		       " AND x.id < (SELECT uuid_v7_floor(max(cut)) FROM quote_purges)",
		       1) != OK ||
	    pg_prepare(db, "intake_insert_claims", sql_insert_claims, 33) != OK ||
	    pg_prepare(db, "intake_insert_rejections", sql_insert_rejections, 11) != OK)
		return ERR;
	return OK;
}

/* ---- outcomes ------------------------------------------------------------------- */

/* Outcomes by kind: an operator sees the rejection reasons at a glance.
 * Tallied while a batch is decided and added to the metrics only once
 * its transaction commits: a batch rolled back and tried again (whole,
 * or one message at a time) would otherwise count its claims twice. */
#define OUTCOME_KINDS 48

struct outcome_tally {
	char name[96];
	const char *help;
	long count;
};

static _Thread_local struct outcome_tally uncounted[OUTCOME_KINDS];
static _Thread_local int uncounted_kinds;

static void tally_outcome(const struct intake_outcome *o)
{
	char name[96];
	const char *help;
	int k;

	if (o->duplicate && o->content_differs) {
		snprintf(name, sizeof(name), "intake_key_reused_total");
		help = "Repeated keys whose content differs from the first submission's"
		       " (given the first answer)";
	} else if (o->duplicate) {
		snprintf(name, sizeof(name), "intake_duplicates_total");
		help = "Repeated submissions given the first answer";
	} else if (o->accepted) {
		snprintf(name, sizeof(name), "intake_accepted_total");
		help = "Claims accepted";
	} else {
		snprintf(name, sizeof(name), "intake_rejected_total{reason=\"%s\"}",
			 o->reason_code);
		help = "Submissions rejected, by reason code";
	}
	for (k = 0; k < uncounted_kinds && strcmp(uncounted[k].name, name) != 0; k++)
		;
	if (k == uncounted_kinds) {
		if (k == OUTCOME_KINDS)
			return; /* more kinds than reason codes: cannot happen */
		snprintf(uncounted[k].name, sizeof(uncounted[k].name), "%s", name);
		uncounted[k].help = help;
		uncounted[k].count = 0;
		uncounted_kinds++;
	}
	uncounted[k].count++;
}

void intake_count_discard(void)
{
	uncounted_kinds = 0;
}

void intake_count_committed(void)
{
	for (int k = 0; k < uncounted_kinds; k++)
		metric_add(metric_counter(uncounted[k].name, uncounted[k].help),
			   uncounted[k].count);
	uncounted_kinds = 0;
}

/* The source of complements (claimctl) is no sender's, and a
 * professional's "tp:KIND:NUMBER" is only theirs: a submission under
 * either that is not its owner's is refused (intake_check.c) without its
 * key ever being looked up or recorded, so that it can neither read the
 * owner's answer nor hold a key of the owner's namespace. */
static int reserved_source(const Claims__ClaimSubmitted *s)
{
	return (s->source != NULL && strcmp(s->source, CLAIMS_COMPLEMENT_SOURCE) == 0) ||
	       intake_tp_source_mismatch(s);
}

/* A key too long for the sizes intake_check.c allows is no key: its
 * submission is refused INVALID_FIELD and named by its message id, as
 * one without a key. Recorded under it, a key of kilobytes would exceed
 * the largest entry PostgreSQL's unique index takes (54000): the
 * refusal could never be written, a socket sender would be told
 * "unavailable" for ever, and a Kafka batch would fail and be tried
 * again message by message. */
static int keyed(const Claims__ClaimSubmitted *s)
{
	return s->source != NULL && s->external_id != NULL && s->source[0] != '\0' &&
	       s->external_id[0] != '\0' && strlen(s->source) <= INTAKE_MAX_SOURCE &&
	       strlen(s->external_id) <= INTAKE_MAX_EXTERNAL_ID && utf8_valid(s->source) &&
	       utf8_valid(s->external_id) && !reserved_source(s);
}

/* The first answer of an item's key, and whether the item says
 * something else than the submission that got it. */
static void answer_from_row(struct intake_item *it, PGresult *res, int r)
{
	struct intake_outcome *o = &it->out;

	memset(o, 0, sizeof(*o));
	if (!PQgetisnull(res, r, 1)) {
		o->accepted = 1;
		snprintf(o->claim_id, sizeof(o->claim_id), "%s", PQgetvalue(res, r, 1));
	} else {
		intake_reject(o, PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), "%s",
			      PQgetvalue(res, r, 4));
	}
	o->duplicate = 1;
	snprintf(it->first_digest, sizeof(it->first_digest), "%s", PQgetvalue(res, r, 5));
	o->content_differs =
		it->first_digest[0] != '\0' && strcmp(it->first_digest, it->digest) != 0;
}

#define STATE(st) (1u << (st))

/* Runs `statement` with the keys (source, external id) of the items
 * whose state is in `states` (a mask of STATE()s), in item order; an
 * item not asked about has an empty key. *res is set when some were
 * asked about, and left NULL (nothing run) otherwise. */
static int by_keys(struct pg *db, const char *statement, struct intake_item *items, int n,
		   unsigned states, PGresult **res)
{
	struct pgarray sources, externals;
	const char *v[2];
	int status, wanted = 0;

	*res = NULL;
	pgarray_init(&sources);
	pgarray_init(&externals);
	for (int i = 0; i < n; i++) {
		int k = (states & STATE(items[i].state)) && keyed(items[i].s);

		pgarray_text(&sources, k ? items[i].s->source : "");
		pgarray_text(&externals, k ? items[i].s->external_id : "");
		wanted += k;
	}
	v[0] = pgarray_finish(&sources);
	v[1] = pgarray_finish(&externals);
	status = wanted ? pg_exec_prepared(db, statement, 2, v, NULL, NULL, res) : OK;
	pgarray_free(&sources);
	pgarray_free(&externals);
	return status;
}

/* Holds the keys of the items to answer until the transaction ends (see
 * the top of the file). */
static int lock_keys(struct pg *db, struct intake_item *items, int n, unsigned states)
{
	PGresult *res;

	if (by_keys(db, "intake_lock_keys", items, n, states, &res) != OK)
		return ERR;
	PQclear(res);
	return OK;
}

/* The answers already recorded for the items whose state is in `states`
 * (a mask of STATE()s); those found become ANSWERED. */
static int first_answers(struct pg *db, struct intake_item *items, int n, unsigned states)
{
	PGresult *res;

	if (by_keys(db, "intake_first_answers", items, n, states, &res) != OK)
		return ERR;
	if (res == NULL)
		return OK;
	for (int r = 0; r < PQntuples(res); r++) {
		int i = atoi(PQgetvalue(res, r, 0)) - 1;

		if (i >= 0 && i < n && (states & STATE(items[i].state)) && keyed(items[i].s)) {
			answer_from_row(&items[i], res, r);
			items[i].state = ANSWERED;
		}
	}
	PQclear(res);
	return OK;
}

/* What makes items one submission: the same key, or, without a key,
 * the same message (delivered twice: its rejection is named by it). */
struct submission_ref {
	int by_message; /* 0: by key (a, b: source, external id); 1: a message id */
	const char *a, *b;
	int item;
};

static int submission_cmp(const void *x, const void *y)
{
	const struct submission_ref *p = x, *q = y;
	int c;

	if (p->by_message != q->by_message)
		return p->by_message - q->by_message;
	if ((c = strcmp(p->a, q->a)) != 0 || (c = strcmp(p->b, q->b)) != 0)
		return c;
	return p->item - q->item;
}

/* A repeat inside the batch gets its first copy's answer at the end.
 * Sorted by submission, then by position: each run of one submission
 * starts with its first copy (a batch holds up to thousands of items: no
 * comparison of every pair). Items answered already are left alone: all
 * copies of a key found in the database are. */
static void mark_repeats(struct intake_item *items, int n)
{
	struct submission_ref *refs = xcalloc((size_t)n + 1, sizeof(*refs));
	int count = 0;

	for (int i = 0; i < n; i++) {
		const Claims__ClaimSubmitted *s = items[i].s;

		if (items[i].state == ANSWERED)
			continue;
		if (keyed(s))
			refs[count++] = (struct submission_ref){0, s->source, s->external_id, i};
		else if (items[i].message_id != NULL && items[i].message_id[0] != '\0')
			refs[count++] = (struct submission_ref){1, items[i].message_id, "", i};
	}
	qsort(refs, (size_t)count, sizeof(*refs), submission_cmp);
	for (int k = 1; k < count; k++) {
		struct submission_ref *first = &refs[k - 1];

		if (first->by_message != refs[k].by_message || strcmp(first->a, refs[k].a) != 0 ||
		    strcmp(first->b, refs[k].b) != 0)
			continue;
		/* refs[k - 1] is the first copy, or a repeat that points at it. */
		items[refs[k].item].state = REPEAT;
		items[refs[k].item].repeat_of = items[first->item].state == REPEAT
							? items[first->item].repeat_of
							: first->item;
	}
	free(refs);
}

/* ---- beneficiaries and professionals ------------------------------------------------- */

enum {
	V_N,
	V_BENEFICIARY,
	V_CONTRACT,
	V_BIRTH,
	V_EXEMPTIONS,
	V_FROM,
	V_UNTIL,
	V_SUSPENDED,
	V_SUSPENDED_FROM,
	V_PERSON,
	V_RANK,
	V_CONTRACT_START
};

static void coverage_row(struct coverage *cov, PGresult *res, int r)
{
	memset(cov, 0, sizeof(*cov));
	cov->found = 1;
	cov->beneficiary_id = strtoll(PQgetvalue(res, r, V_BENEFICIARY), NULL, 10);
	cov->contract_id = strtoll(PQgetvalue(res, r, V_CONTRACT), NULL, 10);
	snprintf(cov->birth_date, sizeof(cov->birth_date), "%s", PQgetvalue(res, r, V_BIRTH));
	snprintf(cov->exemptions, sizeof(cov->exemptions), "%s", PQgetvalue(res, r, V_EXEMPTIONS));
	cov->from = (int32_t)strtol(PQgetvalue(res, r, V_FROM), NULL, 10);
	cov->until = (int32_t)strtol(PQgetvalue(res, r, V_UNTIL), NULL, 10);
	cov->suspended = PQgetvalue(res, r, V_SUSPENDED)[0] == 't';
	cov->suspended_from = (int32_t)strtol(PQgetvalue(res, r, V_SUSPENDED_FROM), NULL, 10);
	cov->person_id = strtoll(PQgetvalue(res, r, V_PERSON), NULL, 10);
}

/* The item's beneficiary among its member's rows first..first+count-1
 * of res: the row named, or why none is. */
static void choose_row(struct intake_item *it, PGresult *res, int first, int count,
		       struct beneficiary_row *rows)
{
	const Claims__ClaimSubmitted *s = it->s;
	const char *why;
	size_t chosen = 0;
	int32_t day = 0;

	for (int k = 0; k < count; k++) {
		struct beneficiary_row *b = &rows[k];
		int r = first + k;

		b->person_id = strtoll(PQgetvalue(res, r, V_PERSON), NULL, 10);
		b->contract_id = strtoll(PQgetvalue(res, r, V_CONTRACT), NULL, 10);
		b->rank = (uint32_t)strtoul(PQgetvalue(res, r, V_RANK), NULL, 10);
		b->birth_date = PQgetvalue(res, r, V_BIRTH);
		b->contract_start = (int32_t)strtol(PQgetvalue(res, r, V_CONTRACT_START), NULL, 10);
		b->from = (int32_t)strtol(PQgetvalue(res, r, V_FROM), NULL, 10);
		b->end = (int32_t)strtol(PQgetvalue(res, r, V_UNTIL), NULL, 10);
		b->open_ended = b->end == INT32_MAX;
	}
	/* Dates of pending submissions passed the static checks. */
	if (s->n_lines > 0 && date_parse(s->lines[0]->care_date, &day) != OK)
		day = 0;
	why = beneficiary_choose(rows, (size_t)count, s->beneficiary_rank,
				 s->beneficiary_birth_date, day, &chosen);
	if (why == NULL)
		coverage_row(&it->cov, res, first + (int)chosen);
	else
		it->cov.ambiguous = strcmp(why, "AMBIGUOUS_BENEFICIARY") == 0;
}

/* The rank of the rows intake_coverage reads out for s: 0 (all) when a
 * birth date names the person, else the rank the chooser will look at. */
static int64_t rank_to_read(const Claims__ClaimSubmitted *s)
{
	if (s->beneficiary_birth_date != NULL && s->beneficiary_birth_date[0] != '\0')
		return 0;
	return s->beneficiary_rank != 0 ? (int64_t)s->beneficiary_rank : 1;
}

static int load_coverage(struct pg *db, struct intake_item *items, int n)
{
	struct beneficiary_row *rows;
	struct pgarray numbers, ranks;
	const char *v[2];
	PGresult *res;
	int status, wanted = 0, rows_n;

	pgarray_init(&numbers);
	pgarray_init(&ranks);
	for (int i = 0; i < n; i++) {
		const Claims__ClaimSubmitted *s = items[i].s;
		int pending = items[i].state == PENDING;

		memset(&items[i].cov, 0, sizeof(items[i].cov));
		pgarray_text(&numbers, pending ? s->membership_number : "");
		pgarray_int(&ranks, pending ? rank_to_read(s) : 0);
		wanted += pending;
	}
	v[0] = pgarray_finish(&numbers);
	v[1] = pgarray_finish(&ranks);
	status = wanted ? pg_exec_prepared(db, "intake_coverage", 2, v, NULL, NULL, &res) : OK;
	pgarray_free(&numbers);
	pgarray_free(&ranks);
	if (status != OK || !wanted)
		return status;
	rows_n = PQntuples(res);
	rows = xcalloc((size_t)rows_n + 1, sizeof(*rows));
	for (int r = 0; r < rows_n;) {
		int i = atoi(PQgetvalue(res, r, V_N)) - 1, count = 1;

		while (r + count < rows_n && atoi(PQgetvalue(res, r + count, V_N)) - 1 == i)
			count++;
		if (i >= 0 && i < n && items[i].state == PENDING)
			choose_row(&items[i], res, r, count, rows);
		r += count;
	}
	free(rows);
	PQclear(res);
	return OK;
}

static void opt_text(struct pgarray *a, const char *s)
{
	s ? pgarray_text(a, s) : pgarray_null(a);
}

static void professional_verdict(struct intake_item *it)
{
	if (it->professional_ref == 0) {
		intake_reject(&it->out, "UNKNOWN_PROFESSIONAL", "professional_id",
			      "no professional with this %s number",
			      intake_given(it->s->professional_kind) ? it->s->professional_kind
								     : "RPPS, ADELI or FINESS");
		it->state = REJECT;
	} else if (it->professional_ref < 0) {
		intake_reject(&it->out, "AMBIGUOUS_PROFESSIONAL", "professional_kind",
			      "several professionals have this number; say which register "
			      "(RPPS, ADELI or FINESS) in professional_kind");
		it->state = REJECT;
	}
}

/* The professional a submission names, by number and, when given, by
 * register. One match is the claim's professional; none is
 * UNKNOWN_PROFESSIONAL; several (one number in two registers: ADELI and
 * FINESS numbers have the same shape) is AMBIGUOUS_PROFESSIONAL, which
 * the sender settles with professional_kind. */
static int check_professionals(struct pg *db, struct intake_item *items, int n)
{
	struct pgarray nums, kinds;
	const char *v[2];
	PGresult *res;
	int status, wanted = 0;
	int *asked = xcalloc((size_t)n, sizeof(*asked)); /* array position -> item */

	pgarray_init(&nums);
	pgarray_init(&kinds);
	for (int i = 0; i < n; i++) {
		items[i].professional_ref = 0;
		if (items[i].state == PENDING && items[i].s->professional_id != NULL &&
		    items[i].s->professional_id[0] != '\0') {
			pgarray_text(&nums, items[i].s->professional_id);
			opt_text(&kinds, intake_given(items[i].s->professional_kind)
						 ? items[i].s->professional_kind
						 : NULL);
			asked[wanted++] = i;
		}
	}
	v[0] = pgarray_finish(&nums);
	v[1] = pgarray_finish(&kinds);
	status = wanted ? pg_exec_prepared(db, "intake_professionals", 2, v, NULL, NULL, &res) : OK;
	pgarray_free(&nums);
	pgarray_free(&kinds);
	if (status == OK && wanted) {
		for (int r = 0; r < PQntuples(res); r++) {
			long k = strtol(PQgetvalue(res, r, 0), NULL, 10);

			if (k < 1 || k > wanted)
				continue;
			if (strtol(PQgetvalue(res, r, 2), NULL, 10) == 1)
				items[asked[k - 1]].professional_ref =
					strtoll(PQgetvalue(res, r, 1), NULL, 10);
			else
				items[asked[k - 1]].professional_ref = -1;
		}
		PQclear(res);
		for (int k = 0; k < wanted; k++)
			professional_verdict(&items[asked[k]]);
	}
	free(asked);
	return status;
}

/* A cited quote must exist, be this professional's for this
 * beneficiary, and still be valid. The beneficiary is a person: a quote
 * given in December under one contract is honoured for care in January
 * under the next (another row of the same person). */
static const char *quote_problem(const struct intake_item *it, PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		/* PostgreSQL writes UUIDs in lower case; a sender may not. */
		if (strcasecmp(PQgetvalue(res, r, 0), it->s->quote_id) != 0)
			continue;
		if (strtoll(PQgetvalue(res, r, 1), NULL, 10) != it->cov.person_id ||
		    it->professional_ref <= 0 ||
		    strtoll(PQgetvalue(res, r, 2), NULL, 10) != it->professional_ref)
			return "QUOTE_MISMATCH";
		return PQgetvalue(res, r, 3)[0] == 't' ? "QUOTE_EXPIRED" : NULL;
	}
	return "QUOTE_UNKNOWN";
}

/* Whether quote_id is among the ids of a result's first column. */
static int quote_listed(const char *quote_id, PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++)
		if (strcasecmp(PQgetvalue(res, r, 0), quote_id) == 0)
			return 1;
	return 0;
}

/* The prepared statement `name` run on the quote ids of the items that
 * `asked` marks, as one text array; *res NULL when none is marked. */
static int ask_quotes(struct pg *db, const char *name, const struct intake_item *items, int n,
		      const char *asked, PGresult **res)
{
	struct pgarray ids;
	const char *v[1];
	int status, wanted = 0;

	*res = NULL;
	pgarray_init(&ids);
	for (int i = 0; i < n; i++)
		if (asked[i]) {
			pgarray_text(&ids, items[i].s->quote_id);
			wanted++;
		}
	v[0] = pgarray_finish(&ids);
	status = wanted ? pg_exec_prepared(db, name, 1, v, NULL, NULL, res) : OK;
	pgarray_free(&ids);
	return status;
}

/* The unknown quotes (marked by check_quotes) made before the last
 * purge's cut (migration 030): purged after their validity ended, or
 * never stored and older than any quote kept; no invoice can cite them
 * any more, and the refusal is final. The others may yet be stored:
 * refused, nothing recorded. Asked only when a batch cites an unknown
 * quote. */
static int judge_unknown_quotes(struct pg *db, struct intake_item *items, int n,
				const char *unknown)
{
	PGresult *res;
	int status = ask_quotes(db, "intake_quotes_purged", items, n, unknown, &res);

	if (status != OK || res == NULL)
		return status;
	for (int i = 0; i < n; i++) {
		if (!unknown[i])
			continue;
		if (quote_listed(items[i].s->quote_id, res)) {
			intake_reject(&items[i].out, "QUOTE_EXPIRED", "quote_id",
				      "the quote was made before the quotes kept: its validity"
				      " has ended");
			items[i].state = REJECT;
		} else {
			/* Perhaps not yet: the quote server stores its quotes
			 * a moment after answering them. Recorded, the refusal
			 * would answer every later copy of this invoice. */
			intake_reject(&items[i].out, "QUOTE_UNKNOWN", "quote_id",
				      "no stored quote has this id (a quote is stored a moment"
				      " after its answer): nothing recorded, send it again");
			items[i].out.unrecorded = 1;
			items[i].state = UNRECORDED;
		}
	}
	PQclear(res);
	return OK;
}

static int check_quotes(struct pg *db, struct intake_item *items, int n)
{
	char *cited = xcalloc((size_t)n, 1), *unknown = xcalloc((size_t)n, 1);
	PGresult *res;
	int status;

	for (int i = 0; i < n; i++)
		cited[i] = items[i].state == PENDING && items[i].s->quote_id &&
			   items[i].s->quote_id[0];
	status = ask_quotes(db, "intake_quotes", items, n, cited, &res);
	if (status == OK && res != NULL) {
		for (int i = 0; i < n; i++) {
			const char *problem = cited[i] ? quote_problem(&items[i], res) : NULL;

			if (problem != NULL && strcmp(problem, "QUOTE_UNKNOWN") == 0) {
				unknown[i] = 1;
			} else if (problem != NULL) {
				intake_reject(&items[i].out, problem, "quote_id",
					      "the quote is expired, or not for this professional"
					      " and beneficiary");
				items[i].state = REJECT;
			}
		}
		PQclear(res);
		status = judge_unknown_quotes(db, items, n, unknown);
	}
	free(cited);
	free(unknown);
	return status;
}

/* ---- the events ------------------------------------------------------------------------ */

/* The claims.accepted event: the claim as the reimbursement daemon needs
 * it. Lines are copied without the fields this version does not know:
 * protobuf-c would keep them and could write them back in a form it
 * then refuses to read (a field number 0 in a long tag, found by fuzzing). */
static int pack_accepted(const struct intake_item *it, char *event_id, uint8_t **buf, size_t *len)
{
	const Claims__ClaimSubmitted *s = it->s;
	Claims__ClaimAccepted a = CLAIMS__CLAIM_ACCEPTED__INIT;
	Claims__ClaimLine *copies = xcalloc(s->n_lines, sizeof(*copies));
	Claims__ClaimLine **ptrs = xcalloc(s->n_lines, sizeof(*ptrs));
	char exemptions[64], *exempt_list[8];
	int status;

	snprintf(exemptions, sizeof(exemptions), "%s", it->cov.exemptions);
	a.claim_id = (char *)it->out.claim_id;
	a.has_contract_id = a.has_beneficiary_id = a.has_payee = 1;
	a.contract_id = it->cov.contract_id;
	a.beneficiary_id = it->cov.beneficiary_id;
	a.source = s->source;
	a.external_id = s->external_id;
	a.payee = s->payee;
	a.professional_id = s->professional_id;
	a.membership_number = s->membership_number;
	a.birth_date = (char *)it->cov.birth_date;
	a.n_exemptions = pgarray_words(exemptions, exempt_list, 8);
	a.exemptions = exempt_list;
	for (size_t i = 0; i < s->n_lines; i++) {
		copies[i] = *s->lines[i];
		copies[i].base.n_unknown_fields = 0;
		copies[i].base.unknown_fields = NULL;
		copies[i].has_line_no = 1;
		copies[i].line_no = (uint32_t)i + 1;
		ptrs[i] = &copies[i];
	}
	a.n_lines = s->n_lines;
	a.lines = ptrs;
	status = envelope_pack(CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED, &a.base, it->trace_id,
			       "intake", event_id, buf, len);
	free(ptrs);
	free(copies);
	return status;
}

/* ---- writing accepted claims ------------------------------------------------------------ */

enum {
	C_ID,
	C_SOURCE,
	C_KIND,
	C_EXTERNAL,
	C_CONTRACT,
	C_BENEFICIARY,
	C_PROFESSIONAL,
	C_PAYEE,
	C_TRACE,
	L_CLAIM,
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
	E_TYPE,
	E_CLAIM,
	E_ID,
	E_KEY,
	E_PAYLOAD,
	C_QUOTE,
	C_DIGEST,
	CLAIM_PARAMS
};

static void add_lines(struct pgarray *a, const struct intake_item *it)
{
	const Claims__ClaimSubmitted *s = it->s;

	for (size_t i = 0; i < s->n_lines; i++) {
		const Claims__ClaimLine *l = s->lines[i];
		char lenses[64] = "";

		if (l->n_lenses == 2)
			snprintf(lenses, sizeof(lenses), "%s,%s", l->lenses[0], l->lenses[1]);
		pgarray_text(&a[L_CLAIM], it->out.claim_id);
		pgarray_int(&a[L_NO], (int64_t)i + 1);
		opt_text(&a[L_REF], l->line_ref);
		opt_text(&a[L_ACT], l->act_code);
		pgarray_text(&a[L_CATEGORY], l->category);
		pgarray_text(&a[L_DATE], l->care_date);
		pgarray_int(&a[L_QUANTITY], l->quantity);
		pgarray_int(&a[L_CHARGED], l->charged_cents);
		/* NULL when not given: the engine priced the act itself. */
		l->has_brss_cents ? pgarray_int(&a[L_BRSS], l->brss_cents)
				  : pgarray_null(&a[L_BRSS]);
		l->has_amo_rate ? pgarray_int(&a[L_RATE], l->amo_rate) : pgarray_null(&a[L_RATE]);
		l->has_amo_paid_cents ? pgarray_int(&a[L_AMO_PAID], l->amo_paid_cents)
				      : pgarray_null(&a[L_AMO_PAID]);
		pgarray_bool(&a[L_OPTAM], l->optam);
		pgarray_bool(&a[L_PARCOURS], l->parcours);
		opt_text(&a[L_BASKET], intake_given(l->basket) ? l->basket : NULL);
		l->has_price_limit_cents ? pgarray_int(&a[L_PRICE_LIMIT], l->price_limit_cents)
					 : pgarray_null(&a[L_PRICE_LIMIT]);
		pgarray_text(&a[L_LENSES], lenses);
		l->has_frame_charged_cents ? pgarray_int(&a[L_FRAME], l->frame_charged_cents)
					   : pgarray_null(&a[L_FRAME]);
	}
}

static int add_accepted(struct pgarray *a, struct intake_item *it)
{
	const Claims__ClaimSubmitted *s = it->s;
	char event_id[UUID_STR_LEN];
	uint8_t *event;
	size_t len;

	uuid_v7(it->out.claim_id);
	snprintf(it->row_id, sizeof(it->row_id), "%s", it->out.claim_id);
	if (pack_accepted(it, event_id, &event, &len) != OK)
		return ERR;
	pgarray_text(&a[C_ID], it->out.claim_id);
	pgarray_text(&a[C_SOURCE], s->source);
	pgarray_text(&a[C_KIND], source_kinds[s->source_kind < 5 ? s->source_kind : 0]);
	pgarray_text(&a[C_EXTERNAL], s->external_id);
	pgarray_int(&a[C_CONTRACT], it->cov.contract_id);
	pgarray_int(&a[C_BENEFICIARY], it->cov.beneficiary_id);
	it->professional_ref > 0 ? pgarray_int(&a[C_PROFESSIONAL], it->professional_ref)
				 : pgarray_null(&a[C_PROFESSIONAL]);
	pgarray_text(&a[C_PAYEE],
		     s->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL ? "professional" : "member");
	opt_text(&a[C_TRACE], it->trace_id);
	opt_text(&a[C_QUOTE], s->quote_id && s->quote_id[0] ? s->quote_id : NULL);
	pgarray_text(&a[C_DIGEST], it->digest);
	add_lines(a, it);
	pgarray_text(&a[E_CLAIM], it->out.claim_id);
	pgarray_text(&a[E_ID], event_id);
	pgarray_int(&a[E_KEY], it->cov.contract_id);
	pgarray_hex(&a[E_PAYLOAD], event, len);
	free(event);
	return OK;
}

/* Items of state `state` whose id the statement did not return lost a
 * race with an identical submission: their answer is re-read. */
static int text_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static void mark_lost(struct intake_item *items, int n, enum intake_state state, PGresult *res)
{
	int rows = PQntuples(res);
	const char **ids = xcalloc((size_t)rows + 1, sizeof(*ids));

	/* Sorted, for a search per item rather than a walk of every row. */
	for (int r = 0; r < rows; r++)
		ids[r] = PQgetvalue(res, r, 0);
	qsort(ids, (size_t)rows, sizeof(*ids), text_cmp);
	for (int i = 0; i < n; i++) {
		const char *row_id = items[i].row_id;

		if (items[i].state == state &&
		    bsearch(&row_id, ids, (size_t)rows, sizeof(*ids), text_cmp) == NULL)
			items[i].state = LOST;
	}
	free(ids);
}

static int write_accepted(struct pg *db, struct intake_item *items, int n)
{
	struct pgarray a[CLAIM_PARAMS];
	const char *v[CLAIM_PARAMS];
	char msg_type[8];
	PGresult *res = NULL;
	int count = 0, status = OK;

	for (int k = 0; k < CLAIM_PARAMS; k++)
		pgarray_init(&a[k]);
	for (int i = 0; i < n && status == OK; i++)
		if (items[i].state == ACCEPT && (status = add_accepted(a, &items[i])) == OK)
			count++;
	snprintf(msg_type, sizeof(msg_type), "%d", CLAIMS__MESSAGE_TYPE__CLAIM_ACCEPTED);
	for (int k = 0; k < CLAIM_PARAMS; k++)
		v[k] = k == E_TYPE ? msg_type : pgarray_finish(&a[k]);
	if (status == OK && count > 0)
		status = pg_exec_prepared(db, "intake_insert_claims", CLAIM_PARAMS, v, NULL, NULL,
					  &res);
	for (int k = 0; k < CLAIM_PARAMS; k++)
		pgarray_free(&a[k]);
	if (res != NULL) {
		mark_lost(items, n, ACCEPT, res);
		PQclear(res);
	}
	return status;
}

/* ---- writing rejections ------------------------------------------------------------------- */

enum {
	R_ID,
	R_SOURCE,
	R_EXTERNAL,
	R_CODE,
	R_FIELD,
	R_MESSAGE,
	R_TYPE,
	R_EVENT,
	R_KEY,
	R_PAYLOAD,
	R_DIGEST,
	REJECT_PARAMS
};

/* A rejection's id and its event's. A submission with a key is
 * recorded once by its key; one without (no source or external id, or
 * a reserved source) by its message: delivered again (a worker stopped
 * between its commit and its offsets), it names the same rejection and
 * event, which exist already and are not written twice. */
static void rejection_ids(const struct intake_item *it, char id[UUID_STR_LEN],
			  char event_id[UUID_STR_LEN])
{
	char name[96];

	if (keyed(it->s) || it->message_id == NULL || it->message_id[0] == '\0') {
		uuid_v7(id);
		uuid_v7(event_id);
		return;
	}
	snprintf(name, sizeof(name), "intake-rejection/%s", it->message_id);
	uuid_from_name(name, strlen(name), id);
	snprintf(name, sizeof(name), "intake-rejection-event/%s", it->message_id);
	uuid_from_name(name, strlen(name), event_id);
}

static int add_rejected(struct pgarray *a, struct intake_item *it)
{
	Claims__ClaimRejected r = CLAIMS__CLAIM_REJECTED__INIT;
	const Claims__ClaimSubmitted *s = it->s;
	/* Text PostgreSQL would refuse is left out: the reason says why. */
	const char *source = s->source && utf8_valid(s->source) ? s->source : NULL;
	const char *external = s->external_id && utf8_valid(s->external_id) ? s->external_id : NULL;
	char id[UUID_STR_LEN], event_id[UUID_STR_LEN];
	uint8_t *event;
	size_t len;

	rejection_ids(it, id, event_id);
	snprintf(it->row_id, sizeof(it->row_id), "%s", id);
	r.source = (char *)source;
	r.external_id = (char *)external;
	r.reason_code = it->out.reason_code;
	r.field = it->out.field;
	r.message = it->out.message;
	r.rejection_id = id;
	if (envelope_pack_as(CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED, &r.base, it->trace_id, "intake",
			     event_id, &event, &len) != OK)
		return ERR;
	pgarray_text(&a[R_ID], id);
	if (reserved_source(s))
		source = external = NULL; /* the event says them; the table keeps no key */
	/* Nor a part too long to be one (see keyed()): the event says it. */
	if (source != NULL && strlen(source) > INTAKE_MAX_SOURCE)
		source = NULL;
	if (external != NULL && strlen(external) > INTAKE_MAX_EXTERNAL_ID)
		external = NULL;
	opt_text(&a[R_SOURCE], source && source[0] ? source : NULL);
	opt_text(&a[R_EXTERNAL], external && external[0] ? external : NULL);
	pgarray_text(&a[R_CODE], it->out.reason_code);
	pgarray_text(&a[R_FIELD], it->out.field);
	pgarray_text(&a[R_MESSAGE], it->out.message);
	pgarray_text(&a[R_EVENT], event_id);
	pgarray_text(&a[R_KEY], external ? external : "");
	pgarray_hex(&a[R_PAYLOAD], event, len);
	/* Only a key has a first answer to compare with. */
	opt_text(&a[R_DIGEST], keyed(s) ? it->digest : NULL);
	free(event);
	return OK;
}

static int write_rejected(struct pg *db, struct intake_item *items, int n)
{
	struct pgarray a[REJECT_PARAMS];
	const char *v[REJECT_PARAMS];
	char msg_type[8];
	PGresult *res = NULL;
	int count = 0, status = OK;

	for (int k = 0; k < REJECT_PARAMS; k++)
		pgarray_init(&a[k]);
	for (int i = 0; i < n && status == OK; i++)
		if (items[i].state == REJECT && (status = add_rejected(a, &items[i])) == OK)
			count++;
	snprintf(msg_type, sizeof(msg_type), "%d", CLAIMS__MESSAGE_TYPE__CLAIM_REJECTED);
	for (int k = 0; k < REJECT_PARAMS; k++)
		v[k] = k == R_TYPE ? msg_type : pgarray_finish(&a[k]);
	if (status == OK && count > 0)
		status = pg_exec_prepared(db, "intake_insert_rejections", REJECT_PARAMS, v, NULL,
					  NULL, &res);
	for (int k = 0; k < REJECT_PARAMS; k++)
		pgarray_free(&a[k]);
	if (res != NULL) {
		mark_lost(items, n, REJECT, res);
		PQclear(res);
	}
	return status;
}

/* ---- the batch ------------------------------------------------------------------------------ */

/* The width of a scalar field's value, 0 for any other type. */
static size_t scalar_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int32_t);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(int64_t);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 0;
	}
}

/* A message as any sender may write the same thing: a field given at
 * the default its .proto declares (quantity 1, optam, parcours, rank 0)
 * or an enum given at its first value (intake reads the value, never
 * whether it was given) is as if left out, and so is an empty text
 * (intake reads it as absent, and a proto3 or JSON encoder cannot even
 * send one); fields this release does not know (a newer sender's) are
 * dropped. Two encoders of one claim then give one digest: a faithful
 * repeat is not reported as a key reused. The message is one decoded by
 * protobuf-c's default allocator. */
static void canonical_form(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	for (unsigned f = 0; f < d->n_fields; f++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[f];
		char *member = (char *)m + fd->offset;
		size_t width = scalar_size(fd->type);

		if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset != 0 &&
		    width > 0) {
			protobuf_c_boolean *has =
				(protobuf_c_boolean *)((char *)m + fd->quantifier_offset);
			static const uint8_t zero[8];
			const void *dflt = fd->default_value != NULL ? fd->default_value : zero;

			if (*has &&
			    (fd->default_value != NULL || fd->type == PROTOBUF_C_TYPE_ENUM) &&
			    memcmp(member, dflt, width) == 0)
				*has = 0;
		} else if (fd->type == PROTOBUF_C_TYPE_STRING &&
			   fd->label == PROTOBUF_C_LABEL_OPTIONAL && *(char **)member != NULL &&
			   **(char **)member == '\0' && *(char **)member != fd->default_value) {
			free(*(char **)member);
			*(char **)member = NULL;
		} else if (fd->type == PROTOBUF_C_TYPE_MESSAGE &&
			   fd->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(size_t *)((char *)m + fd->quantifier_offset);
			ProtobufCMessage **items = *(ProtobufCMessage ***)member;

			for (size_t k = 0; k < n; k++)
				canonical_form(items[k]);
		} else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)member) {
			canonical_form(*(ProtobufCMessage **)member);
		}
	}
	for (unsigned u = 0; u < m->n_unknown_fields; u++)
		free(m->unknown_fields[u].data);
	free(m->unknown_fields);
	m->unknown_fields = NULL;
	m->n_unknown_fields = 0;
}

/* What a submission says, as a digest: the message in its canonical
 * form, packed again (the same fields give the same bytes, whatever
 * their order on the wire). */
static void submission_digest(const Claims__ClaimSubmitted *s, char hex[65])
{
	size_t len = claims__claim_submitted__get_packed_size(s);
	uint8_t *buf = xmalloc(len + 1);
	Claims__ClaimSubmitted *copy;

	claims__claim_submitted__pack(s, buf);
	copy = claims__claim_submitted__unpack(NULL, len, buf);
	if (copy != NULL) { /* it was decoded once: always */
		canonical_form(&copy->base);
		free(buf);
		len = claims__claim_submitted__get_packed_size(copy);
		buf = xmalloc(len + 1);
		claims__claim_submitted__pack(copy, buf);
		claims__claim_submitted__free_unpacked(copy, NULL);
	}
	sha256_hex(buf, len, hex);
	free(buf);
}

static void decide_static(struct intake_item *items, int n)
{
	/* A care date is in the future only if it is everywhere: the
	 * sender's today may be ahead of UTC's (France is UTC+1 or +2, its
	 * overseas departments up to +4). */
	int32_t today = date_today_anywhere();

	for (int i = 0; i < n; i++) {
		memset(&items[i].out, 0, sizeof(items[i].out));
		submission_digest(items[i].s, items[i].digest);
		/* Written by this batch, it is its own first answer. */
		memcpy(items[i].first_digest, items[i].digest, sizeof(items[i].digest));
		items[i].repeat_of = -1;
		items[i].state = intake_check_static(items[i].s, today, &items[i].out) == OK
					 ? PENDING
					 : REJECT;
	}
}

/* The line a NOT_COVERED refusal names (lines[K].care_date), or -1. */
static int uncovered_line(const struct intake_item *it)
{
	int k, end = 0;

	if (it->state != REJECT || strcmp(it->out.reason_code, "NOT_COVERED") != 0 ||
	    !it->cov.found || sscanf(it->out.field, "lines[%d].care_date%n", &k, &end) != 1 ||
	    it->out.field[end] != '\0' || k < 0 || (size_t)k >= it->s->n_lines)
		return -1;
	return k;
}

/* A claim is one contract's (its events are keyed by it). A line of
 * care that another contract of the beneficiary covers (lines on both
 * sides of a change of contract, 30 December and 2 January) is not
 * "not covered": the sender is told to send each contract's lines in
 * a claim of its own. Asked only for claims refused NOT_COVERED. The
 * other contract's row is the same person's, whatever its rank there. */
static int refine_not_covered(struct pg *db, struct intake_item *items, int n)
{
	struct pgarray beneficiaries, days;
	const char *v[2];
	PGresult *res;
	int status, wanted = 0;

	pgarray_init(&beneficiaries);
	pgarray_init(&days);
	for (int i = 0; i < n; i++) {
		const Claims__ClaimSubmitted *s = items[i].s;
		int k = uncovered_line(&items[i]);

		pgarray_int(&beneficiaries, k >= 0 ? items[i].cov.beneficiary_id : 0);
		k >= 0 ? pgarray_text(&days, s->lines[k]->care_date) : pgarray_null(&days);
		wanted += k >= 0;
	}
	v[0] = pgarray_finish(&beneficiaries);
	v[1] = pgarray_finish(&days);
	status = wanted ? pg_exec_prepared(db, "intake_other_contracts", 2, v, NULL, NULL, &res)
			: OK;
	pgarray_free(&beneficiaries);
	pgarray_free(&days);
	if (status != OK || !wanted)
		return status;
	for (int r = 0; r < PQntuples(res); r++) {
		int i = atoi(PQgetvalue(res, r, 0)) - 1;
		int k = i >= 0 && i < n ? uncovered_line(&items[i]) : -1;
		char field[sizeof(items[0].out.field)];

		if (k < 0)
			continue;
		snprintf(field, sizeof(field), "%s", items[i].out.field);
		intake_reject(&items[i].out, "SPANS_CONTRACTS", field,
			      "care on %s is another contract's than the claim's first line:"
			      " send each contract's lines in a claim of their own",
			      items[i].s->lines[k]->care_date);
	}
	PQclear(res);
	return OK;
}

static int decide_rest(struct pg *db, struct intake_item *items, int n)
{
	if (load_coverage(db, items, n) != OK)
		return ERR;
	for (int i = 0; i < n; i++)
		if (items[i].state == PENDING &&
		    intake_check_coverage(items[i].s, &items[i].cov, &items[i].out) != OK)
			items[i].state = REJECT;
	if (refine_not_covered(db, items, n) != OK || check_professionals(db, items, n) != OK ||
	    check_quotes(db, items, n) != OK)
		return ERR;
	for (int i = 0; i < n; i++) {
		if (items[i].state == PENDING) {
			items[i].state = ACCEPT;
			items[i].out.accepted = 1;
		}
	}
	return OK;
}

static void copy_repeats(struct intake_item *items, int n)
{
	for (int i = 0; i < n; i++) {
		const struct intake_item *first;

		if (items[i].state != REPEAT)
			continue;
		first = &items[items[i].repeat_of];
		items[i].out = first->out;
		if (first->state == UNRECORDED) {
			/* Nothing recorded under the key: no first answer to
			 * repeat, nor content to compare with. Not judged now
			 * (its quote may differ), kept like the first copy, to
			 * be sent or replayed again. */
			items[i].state = UNRECORDED;
			if (strcmp(first->digest, items[i].digest) != 0)
				snprintf(items[i].out.message, sizeof(items[i].out.message),
					 "not judged: the copy of its key before it in this batch"
					 " was refused QUOTE_UNKNOWN, nothing recorded; send it"
					 " again");
			continue;
		}
		items[i].out.duplicate = 1;
		/* Compared with the first answer's content: the first copy's
		 * when this batch wrote it, the row's when another had. */
		items[i].out.content_differs = first->first_digest[0] != '\0' &&
					       strcmp(first->first_digest, items[i].digest) != 0;
	}
}

int intake_submit_batch(struct pg *db, struct intake_item *items, int n)
{
	decide_static(items, n);
	/* A submission seen before is answered as the first time, even a
	 * malformed one: one lookup for every item still to decide, once
	 * no other transaction can be deciding it. */
	if (lock_keys(db, items, n, STATE(PENDING) | STATE(REJECT)) != OK ||
	    first_answers(db, items, n, STATE(PENDING) | STATE(REJECT)) != OK)
		return ERR;
	mark_repeats(items, n);
	if (decide_rest(db, items, n) != OK || write_accepted(db, items, n) != OK ||
	    write_rejected(db, items, n) != OK || first_answers(db, items, n, STATE(LOST)) != OK)
		return ERR;
	copy_repeats(items, n);
	for (int i = 0; i < n; i++)
		tally_outcome(&items[i].out);
	return OK;
}

/* One submission (the socket): a batch of one. */
int intake_submit(struct pg *db, const Claims__ClaimSubmitted *s, const char *trace_id,
		  const char *message_id, struct intake_outcome *out)
{
	struct intake_item item = {.s = s, .trace_id = trace_id, .message_id = message_id};

	if (intake_submit_batch(db, &item, 1) != OK)
		return ERR;
	*out = item.out;
	return OK;
}
