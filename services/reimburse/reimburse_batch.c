/*
 * NAME
 *	reimburse_batch.c - decide a batch of accepted claims
 *
 * DESCRIPTION
 *	reimburse_batch(), inside the worker's transaction, in four round
 *	trips to PostgreSQL whatever the size of the batch (two more, rarely,
 *	for a person an operator changed while the batch waited: step 1):
 *
 *	0. take an advisory lock per person of the batch (in key order):
 *	   annual caps, acts per year and renewal periods are read from the
 *	   person's history and then written, so two transactions deciding
 *	   claims of one person must not overlap. A person is every
 *	   beneficiary row of theirs (one per contract of the member: a
 *	   change of contract gives a new row, not a new history; migration
 *	   023). Kafka's keys (the contract id) send one contract's claims
 *	   to one consumer, but not the claims of a person's two contracts,
 *	   nor any claim once the producer's key or the topic's number of
 *	   partitions changes: the lock makes it hold. It costs no row write
 *	   (a row lock would, in the WAL);
 *	1. lock the batch's claim rows (SELECT ... FOR UPDATE, in claim id
 *	   order so that two workers never deadlock): a claim already past
 *	   'queued' was decided by an earlier delivery and is left alone; two
 *	   workers handed the same claim during a rebalance serialise here
 *	   and the second sees it decided; a claim whose beneficiary row an
 *	   operator moved to another person meanwhile (migration 025) has
 *	   that person's lock taken too, and the claims read again;
 *	2. read the consumption of the batch's persons (the engine's
 *	   history, in parts: the sums of the calendar years of the care from
 *	   consumption_years, the daily rows of the days of the care, and the
 *	   equipments of the last five years for renewal periods, the longest
 *	   the engine takes: RULES_MAX_RENEWAL_MONTHS), so that
 *	   the cost does not grow with the number of days of care a year;
 *	   then, in memory and in message order, run the engine with the
 *	   formula version in force at each care date (consecutive lines under
 *	   one version form one request); every computed line joins its
 *	   person's history at once, so later claims of the same person in
 *	   the batch, under either contract, see it;
 *	3. write everything in ONE statement: the decision of every line with
 *	   its rule trace, the daily counters (their years follow, by trigger),
 *	   the claims' status, the payments and the reimbursements.computed
 *	   events in the outbox.
 *
 *	A line whose date has no formula version in force, or that the engine
 *	refuses, is not decided: the claim ends 'partial' (some lines
 *	decided) or 'error' (none), with the reasons, and the event says so.
 *	The other lines under the same version are decided without it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/claimline.h"
#include "common/envelope.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/pgarray.h"
#include "common/xalloc.h"
#include "proto/reimbursement.pb-c.h"
#include "proto/tierspayant.pb-c.h"
#include "reimburse/reimburse.h"

/* clang-format off */
static const char sql_write[] =
	"WITH d AS ("
	" INSERT INTO decisions (claim_id, line_no, charged_cents, amo_gross_cents, pf_cents,"
	"  franchise_cents, amo_paid_cents, amc_cents, forfait_cents, rac_cents, rules,"
	"  formula_code, formula_version)"
	" SELECT x.claim_id, x.line_no, x.charged, x.gross, x.pf, x.franchise, x.paid, x.amc,"
	"  x.forfait, x.rac, string_to_array(x.rules, ','), x.code, x.version"
	" FROM unnest($1::uuid[], $2::int[], $3::bigint[], $4::bigint[], $5::bigint[],"
	"  $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::text[],"
	"  $12::text[], $13::int[]) AS x(claim_id, line_no, charged, gross, pf, franchise, paid,"
	"  amc, forfait, rac, rules, code, version)),"
	" k AS ("
	" INSERT INTO consumption_counters AS cc (beneficiary_id, category, care_date, pf_cents,"
	"  franchise_cents, amc_cents, forfait_cents, forfait_units, equipments, lines)"
	" SELECT y.beneficiary_id, y.category, y.care_date, sum(y.pf), sum(y.franchise),"
	"  sum(y.amc), sum(y.forfait), sum(y.units), sum(y.equip), count(*)"
	" FROM unnest($14::bigint[], $15::text[], $16::date[], $5::bigint[], $6::bigint[],"
	"  $8::bigint[], $9::bigint[], $17::int[], $18::int[])"
	"  AS y(beneficiary_id, category, care_date, pf, franchise, amc, forfait, units, equip)"
	" GROUP BY y.beneficiary_id, y.category, y.care_date"
	" ON CONFLICT (beneficiary_id, category, care_date) DO UPDATE SET"
	"  pf_cents = cc.pf_cents + excluded.pf_cents,"
	"  franchise_cents = cc.franchise_cents + excluded.franchise_cents,"
	"  amc_cents = cc.amc_cents + excluded.amc_cents,"
	"  forfait_cents = cc.forfait_cents + excluded.forfait_cents,"
	"  forfait_units = cc.forfait_units + excluded.forfait_units,"
	"  equipments = cc.equipments + excluded.equipments,"
	"  lines = cc.lines + excluded.lines),"
	" c AS (UPDATE claims cl SET status = z.status, outcome_reason = z.reason,"
	"  decided_at = now()"
	"  FROM unnest($19::uuid[], $20::text[], $21::text[]) AS z(claim_id, status, reason)"
	"  WHERE cl.claim_id = z.claim_id),"
	" p AS (INSERT INTO payments (claim_id, payee, payee_ref, amount_cents)"
	"  SELECT q.claim_id, q.payee, q.payee_ref, q.amount"
	"  FROM unnest($22::uuid[], $23::text[], $24::text[], $25::bigint[])"
	"  AS q(claim_id, payee, payee_ref, amount) WHERE q.amount > 0)"
	" INSERT INTO outbox (message_id, topic, key, msg_type, payload)"
	" SELECT o.id, 'reimbursements.computed', o.key, $26, decode(o.payload, 'hex')"
	" FROM unnest($27::uuid[], $28::text[], $29::text[]) WITH ORDINALITY"
	"  AS o(id, key, payload, n) ORDER BY o.n";
/* clang-format on */

#define WRITE_PARAMS 29

/* The history in the engine's three parts (rules.h, rules_history_scope),
 * in no particular order, by person (every beneficiary row of theirs):
 * $1 the persons, $2 the first day of the first year of the care, $3 and
 * $4 each line's person and day (as pairs: persons times days would
 * probe the index for every combination). The last column is the scope. */
/* The scope numbers of the query are the engine's. */
_Static_assert(RULES_HISTORY_YEAR == 1 && RULES_HISTORY_DAY == 2 && RULES_HISTORY_EQUIPMENT == 3,
	       "sql_history's last column");
static const char sql_history[] =
	"SELECT b.person_id, y.category, make_date(y.year, 1, 1) - date '1970-01-01', y.pf_cents,"
	" y.franchise_cents, y.amc_cents, y.forfait_cents, y.forfait_units, 0, 1"
	" FROM beneficiaries b JOIN consumption_years y ON y.beneficiary_id = b.beneficiary_id"
	" WHERE b.person_id = ANY($1::bigint[]) AND y.year >= date_part('year', $2::date)::int"
	" UNION ALL"
	" SELECT q.p, k.category, k.care_date - date '1970-01-01', k.pf_cents,"
	" k.franchise_cents, k.amc_cents, k.forfait_cents, k.forfait_units, 0, 2"
	" FROM (SELECT DISTINCT p, d FROM unnest($3::bigint[], $4::date[]) AS q(p, d)) q"
	" JOIN beneficiaries b ON b.person_id = q.p"
	" JOIN consumption_counters k ON k.beneficiary_id = b.beneficiary_id AND k.care_date = q.d"
	" UNION ALL"
	" SELECT b.person_id, k.category, k.care_date - date '1970-01-01', 0, 0, k.amc_cents, 0, 0,"
	" k.equipments, 3"
	" FROM beneficiaries b JOIN consumption_counters k ON k.beneficiary_id = b.beneficiary_id"
	" WHERE b.person_id = ANY($1::bigint[]) AND k.equipments > 0"
	" AND k.care_date >= $2::date - interval '5 years'";

int reimburse_prepare(struct pg *db)
{
	if (pg_prepare(db, "reimburse_formulas",
		       "SELECT v.formula_code, v.version, f.responsible, v.effective_from::text,"
		       " coalesce(v.effective_to::text, ''), g.category, g.spec::text"
		       " FROM formula_versions v JOIN formulas f USING (formula_code)"
		       " LEFT JOIN guarantees g USING (formula_code, version)"
		       " ORDER BY v.formula_code, v.version",
		       0) != OK ||
	    pg_prepare(db, "reimburse_lock_persons",
		       /* Locked in the order of the keys themselves: ids
			* 2^31 apart share a key, and ordered by id two
			* batches could take two keys in opposite orders.
			* The keys locked come back (person_keys). */
		       "SELECT q.k, pg_advisory_xact_lock(" REIMBURSE_LOCK_CLASS ", q.k)::text"
		       " FROM (SELECT DISTINCT (b.person_id & 2147483647)::int AS k"
		       "  FROM beneficiaries b WHERE b.beneficiary_id = ANY($1::bigint[])"
		       "  ORDER BY k) q",
		       1) != OK ||
	    pg_prepare(db, "reimburse_lock_keys",
		       "SELECT count(pg_advisory_xact_lock(" REIMBURSE_LOCK_CLASS ", q.k))"
		       " FROM (SELECT DISTINCT k FROM unnest($1::int[]) k ORDER BY k) q",
		       1) != OK ||
	    pg_prepare(db, "reimburse_persons",
		       "SELECT beneficiary_id, person_id FROM beneficiaries"
		       " WHERE beneficiary_id = ANY($1::bigint[])",
		       1) != OK ||
	    pg_prepare(db, "reimburse_lock",
		       "SELECT cl.claim_id::text, cl.status, c.formula_code, cl.contract_id,"
		       " cl.beneficiary_id, cl.payee,"
		       " (SELECT count(*) FROM claim_lines l WHERE l.claim_id = cl.claim_id),"
		       " b.person_id,"
		       /* The coverage as intake judges it, now: a contract
			* ended, or suspended, since the claim was accepted
			* (a backlog, a termination backdated) no longer
			* pays its care after that day. */
		       " greatest(c.start_date, b.start_date) - date '1970-01-01',"
		       " least(coalesce(c.end_date - date '1970-01-01', 2147483647),"
		       "       coalesce(b.end_date - date '1970-01-01', 2147483647)),"
		       " CASE WHEN c.status = 'suspended'"
		       "  THEN coalesce(c.suspended_from - date '1970-01-01', -2147483648)"
		       "  ELSE 2147483647 END,"
		       " m.membership_number, coalesce(p.id_value, ''), b.birth_date::text,"
		       " array_to_string(b.exemptions, ',')"
		       " FROM claims cl JOIN contracts c ON c.contract_id = cl.contract_id"
		       " JOIN beneficiaries b ON b.beneficiary_id = cl.beneficiary_id"
		       " JOIN members m ON m.member_id = c.member_id"
		       " LEFT JOIN professionals p ON p.professional_id = cl.professional_id"
		       " WHERE cl.claim_id = ANY($1::uuid[]) ORDER BY cl.claim_id FOR UPDATE OF cl",
		       1) != OK ||
	    pg_prepare(db, "reimburse_history", sql_history, 4) != OK ||
	    pg_prepare(db, "reimburse_write", sql_write, WRITE_PARAMS) != OK)
		return ERR;
	return OK;
}

/* ---- histories of the batch's beneficiaries ------------------------------------ */

struct history {
	int64_t person_id;
	struct rules_history_item *items;
	size_t n, cap;
};

/* The batch's persons, each once, sorted by id. */
struct histories {
	struct history *h;
	size_t n;
};

static int by_person(const void *a, const void *b)
{
	int64_t x = ((const struct history *)a)->person_id;
	int64_t y = ((const struct history *)b)->person_id;

	return (x > y) - (x < y);
}

static struct history *history_of(struct histories *hs, int64_t person_id)
{
	struct history key = {.person_id = person_id};

	return bsearch(&key, hs->h, hs->n, sizeof(*hs->h), by_person);
}

static struct rules_history_item *history_push(struct history *h)
{
	if (h->n == h->cap) {
		h->cap = h->cap * 2 + 64;
		h->items = xrealloc(h->items, h->cap * sizeof(*h->items));
	}
	rules_history_init(&h->items[h->n]);
	return &h->items[h->n++];
}

static void histories_free(struct histories *hs)
{
	for (size_t i = 0; i < hs->n; i++)
		free(hs->h[i].items);
	free(hs->h);
}

static void history_row(struct history *h, PGresult *res, int r)
{
	struct rules_history_item *item;
	enum rules_category cat;

	/* A binary result: text arrives as its bytes (NUL-terminated by
	 * libpq), integers in network order. */
	if (rules_category_parse(PQgetvalue(res, r, 1), &cat) != RULES_OK)
		return; /* a category this engine version does not know */
	item = history_push(h);
	item->category = cat;
	item->date = rules_date_from_days((int32_t)pg_binary_int(res, r, 2));
	item->pf_cents = pg_binary_int(res, r, 3);
	item->franchise_cents = pg_binary_int(res, r, 4);
	item->amc_cents = pg_binary_int(res, r, 5);
	item->forfait_cents = pg_binary_int(res, r, 6);
	/* Units paid a forfait; the engine counts them only on rows with a
	 * forfait, and wants a positive quantity on every row. */
	item->quantity = (int32_t)pg_binary_int(res, r, 7);
	if (item->quantity < 1)
		item->quantity = 1;
	/* A year's sum may pass the engine's bound on one row; it only
	 * feeds a yearly count of acts, which no formula sets that high. */
	if (item->quantity > RULES_MAX_QUANTITY)
		item->quantity = RULES_MAX_QUANTITY;
	item->equipment = pg_binary_int(res, r, 8) > 0;
	item->scope = (enum rules_history_scope)pg_binary_int(res, r, 9);
}

/* The first calendar year any queued claim of the batch touches. */
static int first_year(struct reimburse_item *items, int n)
{
	int year = 9999;

	for (int i = 0; i < n; i++) {
		if (!items[i].queued)
			continue;
		for (size_t k = 0; k < items[i].claim->n_lines; k++) {
			const char *d = items[i].claim->lines[k]->care_date;
			int y = d ? atoi(d) : 0;

			if (y >= 1900 && y < year)
				year = y;
		}
	}
	return year == 9999 ? 1970 : year;
}

/* Each line's person and day of care, queued claims only. */
static void care_days(struct reimburse_item *items, int n, struct pgarray *who,
		      struct pgarray *days)
{
	for (int i = 0; i < n; i++) {
		if (!items[i].queued)
			continue;
		for (size_t k = 0; k < items[i].claim->n_lines; k++) {
			const char *d = items[i].claim->lines[k]->care_date;
			rules_date_t day;

			if (d == NULL || rules_date_parse(d, &day) != RULES_OK)
				continue;
			pgarray_int(who, items[i].person_id);
			pgarray_text(days, d);
		}
	}
}

/* The queued claims' persons, sorted, each once. */
static void list_persons(struct reimburse_item *items, int n, struct histories *hs)
{
	size_t kept = 0;

	hs->h = xcalloc((size_t)n + 1, sizeof(*hs->h));
	hs->n = 0;
	for (int i = 0; i < n; i++)
		if (items[i].queued)
			hs->h[hs->n++].person_id = items[i].person_id;
	qsort(hs->h, hs->n, sizeof(*hs->h), by_person);
	for (size_t i = 0; i < hs->n; i++)
		if (kept == 0 || hs->h[kept - 1].person_id != hs->h[i].person_id)
			hs->h[kept++] = hs->h[i];
	hs->n = kept;
}

static int load_histories(struct pg *db, struct reimburse_item *items, int n, struct histories *hs)
{
	int status;
	struct pgarray ids, who, days;
	char year_start[32];
	const char *v[4];
	PGresult *res;

	list_persons(items, n, hs);
	pgarray_init(&ids);
	pgarray_init(&who);
	pgarray_init(&days);
	for (size_t i = 0; i < hs->n; i++)
		pgarray_int(&ids, hs->h[i].person_id);
	care_days(items, n, &who, &days);
	snprintf(year_start, sizeof(year_start), "%04d-01-01", first_year(items, n) % 10000);
	v[0] = pgarray_finish(&ids);
	v[1] = year_start;
	v[2] = pgarray_finish(&who);
	v[3] = pgarray_finish(&days);
	status = pg_exec_prepared_binary(db, "reimburse_history", 4, v, &res);
	pgarray_free(&ids);
	pgarray_free(&who);
	pgarray_free(&days);
	if (status != OK)
		return ERR;
	for (int r = 0, last = -1; r < PQntuples(res); r++) {
		int64_t id = pg_binary_int(res, r, 0);
		/* Rows of one part come grouped by person. */
		struct history *h = last >= 0 && hs->h[last].person_id == id ? &hs->h[last]
									     : history_of(hs, id);

		if (h != NULL) {
			history_row(h, res, r);
			last = (int)(h - hs->h);
		}
	}
	PQclear(res);
	return OK;
}

/* ---- locks ----------------------------------------------------------------------- */

/* Whether an event's text is the recorded one (absent counts as empty). */
static int event_text_is(const char *event, const char *recorded)
{
	return strcmp(event != NULL ? event : "", recorded) == 0;
}

/* What the event says of its claim against the claim as recorded, row r
 * of reimburse_lock: "" when they agree. The beneficiary, the payee and
 * the party paid (membership number or professional's number) decide
 * whose counters move and who is paid; an event that disagrees (an older
 * release's, a producer's bug, a forged one) must not move another
 * beneficiary's counters or pay another party. (The birth date and the
 * exemptions are taken as recorded, not from the event: a birth date
 * corrected since the claim was accepted is the one the rules use.) */
static const char *disagreement(PGresult *res, int r, const Claims__ClaimAccepted *a)
{
	int professional = a->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	const char *payee = professional ? "professional" : "member";

	if (strtoll(PQgetvalue(res, r, 3), NULL, 10) != a->contract_id)
		return "contract";
	if (strtoll(PQgetvalue(res, r, 4), NULL, 10) != a->beneficiary_id)
		return "beneficiary";
	if (strcmp(PQgetvalue(res, r, 5), payee) != 0)
		return "payee";
	if (strtoll(PQgetvalue(res, r, 6), NULL, 10) != (long long)a->n_lines)
		return "number of lines";
	if (!event_text_is(a->membership_number, PQgetvalue(res, r, 11)))
		return "membership number";
	if (professional && !event_text_is(a->professional_id, PQgetvalue(res, r, 12)))
		return "professional";
	return "";
}

/* The advisory lock keys of the persons a batch holds, sorted. */
struct person_keys {
	int32_t *k;
	size_t n;
};

static int32_t person_key(int64_t person_id)
{
	return (int32_t)(person_id & 2147483647);
}

static int key_cmp(const void *x, const void *y)
{
	int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;

	return (a > b) - (a < b);
}

/* Locks the persons of the batch's beneficiaries, keys in `keys`. */
static int lock_persons(struct pg *db, const struct reimburse_item *items, int n,
			struct person_keys *keys)
{
	struct pgarray ids;
	const char *v[1];
	PGresult *res;
	int status;

	pgarray_init(&ids);
	for (int i = 0; i < n; i++)
		if (items[i].claim != NULL && items[i].poison[0] == '\0')
			pgarray_int(&ids, items[i].claim->beneficiary_id);
	v[0] = pgarray_finish(&ids);
	status = pg_exec_prepared(db, "reimburse_lock_persons", 1, v, NULL, NULL, &res);
	pgarray_free(&ids);
	if (status != OK)
		return ERR;
	keys->n = (size_t)PQntuples(res);
	keys->k = xcalloc(keys->n + 1, sizeof(*keys->k));
	for (size_t r = 0; r < keys->n; r++)
		keys->k[r] = (int32_t)strtol(PQgetvalue(res, (int)r, 0), NULL, 10);
	PQclear(res);
	qsort(keys->k, keys->n, sizeof(*keys->k), key_cmp);
	return OK;
}

/* The batch's items by claim id (then by position), for lock_claims()
 * to find a row's items without comparing every row with every item. */
struct claim_ref {
	const char *id;
	int item;
};

static int claim_ref_cmp(const void *x, const void *y)
{
	const struct claim_ref *p = x, *q = y;
	int c = strcasecmp(p->id, q->id);

	return c != 0 ? c : p->item - q->item;
}

/* The first of refs[0..n) whose id is `id` (case aside), or n. */
static int claim_ref_first(const struct claim_ref *refs, int n, const char *id)
{
	int lo = 0, hi = n;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (strcasecmp(refs[mid].id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int lock_claims(struct pg *db, struct reimburse_item *items, int n)
{
	struct pgarray ids;
	struct claim_ref *refs;
	const char *v[1];
	PGresult *res;
	int count = 0;

	pgarray_init(&ids);
	for (int i = 0; i < n; i++)
		if (items[i].claim != NULL && items[i].poison[0] == '\0')
			pgarray_text(&ids, items[i].claim->claim_id);
	v[0] = pgarray_finish(&ids);
	if (pg_exec_prepared(db, "reimburse_lock", 1, v, NULL, NULL, &res) != OK) {
		pgarray_free(&ids);
		return ERR;
	}
	pgarray_free(&ids);
	refs = xcalloc((size_t)n + 1, sizeof(*refs));
	for (int i = 0; i < n; i++)
		if (items[i].claim != NULL && items[i].poison[0] == '\0')
			refs[count++] = (struct claim_ref){items[i].claim->claim_id, i};
	qsort(refs, (size_t)count, sizeof(*refs), claim_ref_cmp);
	for (int r = 0; r < PQntuples(res); r++) {
		const char *id = PQgetvalue(res, r, 0);
		int first = claim_ref_first(refs, count, id);
		int queued = strcmp(PQgetvalue(res, r, 1), "queued") == 0;

		/* The same claim may come twice in a batch (a republished
		 * event, an operator's redecide behind a refused one): its
		 * first copy (by position) that agrees with the record is
		 * decided, the ones before it dead-lettered, the ones after
		 * it redeliveries. */
		for (int k = first; k < count && strcasecmp(refs[k].id, id) == 0; k++) {
			struct reimburse_item *it = &items[refs[k].item];
			const char *differs;

			it->found = 1;
			it->queued = queued;
			it->person_id = strtoll(PQgetvalue(res, r, 7), NULL, 10);
			it->recorded = 1;
			it->covered_from = (int32_t)strtol(PQgetvalue(res, r, 8), NULL, 10);
			it->covered_to = (int32_t)strtol(PQgetvalue(res, r, 9), NULL, 10);
			it->suspended_from = (int32_t)strtol(PQgetvalue(res, r, 10), NULL, 10);
			snprintf(it->birth_date, sizeof(it->birth_date), "%s",
				 PQgetvalue(res, r, 13));
			snprintf(it->exemptions, sizeof(it->exemptions), "%s",
				 PQgetvalue(res, r, 14));
			snprintf(it->formula_code, sizeof(it->formula_code), "%s",
				 PQgetvalue(res, r, 2));
			differs = it->queued ? disagreement(res, r, it->claim) : "";
			if (*differs != '\0') {
				snprintf(it->poison, sizeof(it->poison),
					 "ClaimAccepted disagrees with claim %s as recorded: %s",
					 id, differs);
				it->queued = 0;
			} else if (it->queued) {
				queued = 0; /* this copy decides it */
			}
		}
	}
	free(refs);
	PQclear(res);
	for (int i = 0; i < n; i++)
		if (items[i].claim != NULL && items[i].poison[0] == '\0' && !items[i].found)
			snprintf(items[i].poison, sizeof(items[i].poison), "claim %s not found",
				 items[i].claim->claim_id);
	return OK;
}

/* A row's person changed by an operator (migration 025) while this
 * batch waited for the old person's lock: lock_claims() read the new
 * person, whose lock the batch does not hold, and another batch may be
 * deciding that person's claims. Their locks are taken too, and the
 * claims read again (the person may have changed once more meanwhile),
 * until every claim's person is held; after a few rounds the batch is
 * given up, to be tried again. Rare: only while persons are changed. */
static int lock_changed_persons(struct pg *db, struct reimburse_item *items, int n,
				struct person_keys *keys)
{
	for (int round = 0;; round++) {
		struct pgarray missing;
		const char *v[1];
		PGresult *res;
		size_t held = keys->n, count;
		int status;

		/* Appended past the sorted ones, searched among them only: a
		 * key missing twice is appended twice (locked twice: no harm). */
		for (int i = 0; i < n; i++) {
			int32_t k = person_key(items[i].person_id);

			if (items[i].claim == NULL || items[i].poison[0] != '\0' ||
			    !items[i].queued ||
			    bsearch(&k, keys->k, held, sizeof(*keys->k), key_cmp) != NULL)
				continue;
			keys->k = xrealloc(keys->k, (keys->n + 1) * sizeof(*keys->k));
			keys->k[keys->n++] = k;
		}
		count = keys->n - held;
		if (count == 0)
			return OK;
		if (round == 3) {
			log_warn("persons still changing under the batch: tried again later");
			return ERR;
		}
		log_info("%zu claims whose person changed while their batch waited: locking the"
			 " new persons",
			 count);
		pgarray_init(&missing);
		for (size_t j = held; j < keys->n; j++)
			pgarray_int(&missing, keys->k[j]);
		qsort(keys->k, keys->n, sizeof(*keys->k), key_cmp);
		v[0] = pgarray_finish(&missing);
		status = pg_exec_prepared(db, "reimburse_lock_keys", 1, v, NULL, NULL, &res);
		pgarray_free(&missing);
		if (status != OK)
			return ERR;
		PQclear(res);
		if (lock_claims(db, items, n) != OK)
			return ERR;
	}
}

/* ---- one claim in engine terms ------------------------------------------------------ */

struct claim_work {
	const Claims__ClaimAccepted *a;
	size_t n;
	struct rules_line *lines;
	struct rules_line_result *results;
	const struct formula_version **fv; /* per line; NULL: not decided */
	char (*errors)[320];		   /* per line; "" when decided */
	struct history *history;
	struct rules_beneficiary beneficiary;
};

static void work_free(struct claim_work *w)
{
	free(w->lines);
	free(w->results);
	free(w->fv);
	free(w->errors);
}

/* The beneficiary the rules see: as recorded when the claim's row was
 * read (lock_claims), else (quotes, tests) as the message says. */
static int beneficiary_of(const struct reimburse_item *it, struct rules_beneficiary *b)
{
	const Claims__ClaimAccepted *a = it->claim;
	unsigned flag;

	if (rules_date_parse(it->recorded ? it->birth_date : a->birth_date, &b->birth_date) !=
	    RULES_OK)
		return ERR;
	if (it->recorded) {
		char list[sizeof(it->exemptions)], *save = NULL;

		memcpy(list, it->exemptions, sizeof(list));
		for (char *e = strtok_r(list, ",", &save); e != NULL;
		     e = strtok_r(NULL, ",", &save))
			if (rules_exempt_parse(e, &flag) == RULES_OK)
				b->exempt |= flag;
		return OK;
	}
	for (size_t e = 0; e < a->n_exemptions; e++)
		if (rules_exempt_parse(a->exemptions[e], &flag) == RULES_OK)
			b->exempt |= flag;
	return OK;
}

/* Whether the contract covers the day now (see reimburse_item). A
 * professional paid in tiers payant gave the care on rights the
 * mutuelle confirmed then (intake, or the front door's ELIGIBILITY):
 * that payment is owed whatever the contract became since, and what the
 * member was not entitled to is recovered from the member, not from the
 * professional. */
static int covered(const struct reimburse_item *it, rules_date_t date)
{
	int32_t day = rules_date_to_days(date);

	if (!it->recorded || it->claim->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL)
		return 1;
	return day >= it->covered_from && day < it->covered_to && day < it->suspended_from;
}

/* Why line i has no version of `code` to decide it on `date` (day, its
 * text): none in force, or the one in force refused (a guarantee this
 * release cannot read, reimburse_formulas.c). */
static void no_version(struct claim_work *w, size_t i, const struct formula_cache *formulas,
		       const char *code, const char *day, rules_date_t date)
{
	const struct formula_version *f = formulas_at(formulas, code, date);

	if (f != NULL)
		snprintf(w->errors[i], sizeof(w->errors[i]),
			 "FORMULA_REFUSED: formula %s v%d, in force on %s, has a guarantee this"
			 " worker cannot read (its log says which)",
			 code, f->version, day);
	else
		snprintf(w->errors[i], sizeof(w->errors[i]),
			 "NO_GUARANTEE_IN_FORCE: formula %s has no version on %s", code, day);
}

static int prepare_work(struct reimburse_ctx *ctx, const struct reimburse_item *it,
			struct history *history, struct claim_work *w)
{
	const Claims__ClaimAccepted *a = it->claim;

	memset(w, 0, sizeof(*w));
	w->a = a;
	w->n = a->n_lines;
	w->history = history;
	w->lines = xcalloc(w->n, sizeof(*w->lines));
	w->results = xcalloc(w->n, sizeof(*w->results));
	w->fv = xcalloc(w->n, sizeof(*w->fv));
	w->errors = xcalloc(w->n, sizeof(*w->errors));
	if (beneficiary_of(it, &w->beneficiary) != OK)
		return ERR;
	for (size_t i = 0; i < w->n; i++) {
		struct rules_line *l = &w->lines[i];

		if (claim_line_to_rules(a->lines[i], l) != OK) {
			snprintf(w->errors[i], sizeof(w->errors[i]), "INVALID_LINE");
			continue;
		}
		if (!covered(it, l->date)) {
			snprintf(w->errors[i], sizeof(w->errors[i]),
				 "NOT_COVERED: the contract no longer covers %s (ended or suspended"
				 " since the claim was accepted)",
				 a->lines[i]->care_date);
			continue;
		}
		w->fv[i] = formulas_find(&ctx->formulas, it->formula_code, l->date);
		if (w->fv[i] == NULL)
			no_version(w, i, &ctx->formulas, it->formula_code, a->lines[i]->care_date,
				   l->date);
	}
	return OK;
}

/* The decided line joins its beneficiary's history. */
static void push_history(struct claim_work *w, size_t i)
{
	struct rules_history_item *h = history_push(w->history);
	const struct rules_line_result *r = &w->results[i];

	h->date = w->lines[i].date;
	h->category = w->lines[i].category;
	h->pf_cents = r->pf_cents;
	h->franchise_cents = r->franchise_cents;
	h->amc_cents = r->amc_cents;
	h->forfait_cents = r->forfait_cents;
	h->quantity = w->lines[i].quantity;
	h->equipment = rules_history_equipment_default(h->category, r->amc_cents);
}

/* The engine refused the lines of `at` (count of them) with err: the one
 * at fault when it names one, else every one. Their claim goes partial. */
static size_t refuse(struct claim_work *w, size_t *at, size_t count, const struct rules_error *err)
{
	const char *member = strchr(err->field, '.');
	size_t first = 0, last = count;
	int one = err->line >= 0 && (size_t)err->line < count;

	if (one) {
		first = (size_t)err->line;
		last = first + 1;
	}
	for (size_t k = first; k < last; k++) {
		size_t i = at[k];

		/* The path in err counts the request's lines, not the claim's:
		 * the line's member only (the outcome says "line N:"). */
		if (one && member != NULL)
			snprintf(w->errors[i], sizeof(w->errors[i]), "ENGINE_REFUSED: %s: %s",
				 member + 1, err->reason);
		else if (one)
			snprintf(w->errors[i], sizeof(w->errors[i]), "ENGINE_REFUSED: %s",
				 err->reason);
		else
			snprintf(w->errors[i], sizeof(w->errors[i]), "ENGINE_REFUSED: %s: %s",
				 err->field, err->reason);
		w->fv[i] = NULL;
	}
	if (last - first == count)
		return 0;
	memmove(&at[first], &at[last], (count - last) * sizeof(*at));
	return count - 1;
}

/* Lines [from, to) share one formula version: one engine request. A
 * line the engine refuses is left undecided and the others are asked
 * again without it, so that one bad line (an act code of another
 * category, an amount it cannot take) leaves its neighbours decided as
 * they would have been without it. */
static void compute_run(const struct rules_params *params, struct claim_work *w, size_t from,
			size_t to)
{
	struct rules_request whole = {
		.beneficiary = w->beneficiary,
		.contract = &w->fv[from]->contract,
		.history = w->history->items,
		.n_history = w->history->n,
		.lines = &w->lines[from],
		.n_lines = to - from,
	};
	size_t count = to - from, *at;
	struct rules_line *lines;
	struct rules_line_result *results;
	struct rules_totals totals;
	struct rules_error err;

	/* Every line taken: the common case, computed in place. */
	if (rules_compute(params, &whole, &w->results[from], &totals, &err) == RULES_OK) {
		for (size_t i = from; i < to; i++)
			push_history(w, i);
		return;
	}
	at = xcalloc(count, sizeof(*at));
	lines = xcalloc(count, sizeof(*lines));
	results = xcalloc(count, sizeof(*results));
	for (size_t k = 0; k < count; k++)
		at[k] = from + k;
	count = refuse(w, at, count, &err);
	while (count > 0) {
		/* Not w->fv[from]: refuse() cleared the refused lines' versions. */
		struct rules_request req = {
			.beneficiary = w->beneficiary,
			.contract = whole.contract,
			.history = w->history->items,
			.n_history = w->history->n,
			.lines = lines,
			.n_lines = count,
		};

		for (size_t k = 0; k < count; k++)
			lines[k] = w->lines[at[k]];
		if (rules_compute(params, &req, results, &totals, &err) == RULES_OK) {
			for (size_t k = 0; k < count; k++) {
				w->results[at[k]] = results[k];
				push_history(w, at[k]);
			}
			break;
		}
		count = refuse(w, at, count, &err);
	}
	free(at);
	free(lines);
	free(results);
}

static void compute_all(const struct rules_params *params, struct claim_work *w)
{
	size_t i = 0;

	while (i < w->n) {
		size_t j = i + 1;

		if (w->fv[i] == NULL) {
			i++;
			continue;
		}
		while (j < w->n && w->fv[j] == w->fv[i])
			j++;
		compute_run(params, w, i, j);
		i = j;
	}
}

/* ---- the write: decisions, counters, claims, payments, events ------------------------- */

enum {
	A_CLAIM,
	A_LINE,
	A_CHARGED,
	A_GROSS,
	A_PF,
	A_FRANCHISE,
	A_PAID,
	A_AMC,
	A_FORFAIT,
	A_RAC,
	A_RULES,
	A_CODE,
	A_VERSION,
	A_BENEFICIARY,
	A_CATEGORY,
	A_DATE,
	A_UNITS,
	A_EQUIP,
	A_C_CLAIM,
	A_C_STATUS,
	A_C_REASON,
	A_P_CLAIM,
	A_P_PAYEE,
	A_P_REF,
	A_P_AMOUNT,
	A_O_ID,
	A_O_KEY,
	A_O_PAYLOAD,
	A_COUNT
};

struct batch_write {
	struct pgarray a[A_COUNT];
	int claims;
	int outcomes[REIMBURSE_OUTCOMES]; /* claims decided, by outcome */
	/* reimburse_decide_one(): the last claim's event, kept for its caller. */
	int keep_event;
	uint8_t *event;
	size_t event_len;
};

struct outcome {
	const char *status;
	Claims__Outcome code;
	char reason[1024];
	int64_t charged, amo_paid, amc, rac;
};

static void rules_text(const struct rules_line_result *r, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int k = 0; k < r->n_rules && used + 1 < len; k++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", k ? "," : "",
					 rules_rule_name(r->rules[k]));
}

static void add_lines(struct batch_write *bw, const struct claim_work *w)
{
	for (size_t i = 0; i < w->n; i++) {
		const struct rules_line_result *r = &w->results[i];
		char rules[RULES_TRACE_MAX * 32];

		if (w->fv[i] == NULL)
			continue;
		rules_text(r, rules, sizeof(rules));
		pgarray_text(&bw->a[A_CLAIM], w->a->claim_id);
		pgarray_int(&bw->a[A_LINE], w->a->lines[i]->line_no);
		pgarray_int(&bw->a[A_CHARGED], r->charged_cents);
		pgarray_int(&bw->a[A_GROSS], r->amo_gross_cents);
		pgarray_int(&bw->a[A_PF], r->pf_cents);
		pgarray_int(&bw->a[A_FRANCHISE], r->franchise_cents);
		pgarray_int(&bw->a[A_PAID], r->amo_paid_cents);
		pgarray_int(&bw->a[A_AMC], r->amc_cents);
		pgarray_int(&bw->a[A_FORFAIT], r->forfait_cents);
		pgarray_int(&bw->a[A_RAC], r->rac_cents);
		pgarray_text(&bw->a[A_RULES], rules);
		pgarray_text(&bw->a[A_CODE], w->fv[i]->code);
		pgarray_int(&bw->a[A_VERSION], w->fv[i]->version);
		pgarray_int(&bw->a[A_BENEFICIARY], w->a->beneficiary_id);
		pgarray_text(&bw->a[A_CATEGORY], w->a->lines[i]->category);
		pgarray_text(&bw->a[A_DATE], w->a->lines[i]->care_date);
		pgarray_int(&bw->a[A_UNITS], r->forfait_cents > 0 ? w->lines[i].quantity : 0);
		pgarray_int(&bw->a[A_EQUIP],
			    rules_history_equipment_default(w->lines[i].category, r->amc_cents));
	}
}

static void summarise(const struct claim_work *w, struct outcome *o)
{
	size_t decided = 0, used = 0;

	memset(o, 0, sizeof(*o));
	for (size_t i = 0; i < w->n; i++) {
		if (w->fv[i] != NULL) {
			decided++;
			o->charged += w->results[i].charged_cents;
			o->amo_paid += w->results[i].amo_paid_cents;
			o->amc += w->results[i].amc_cents;
			o->rac += w->results[i].rac_cents;
		} else if (used + 1 < sizeof(o->reason)) {
			used += (size_t)snprintf(o->reason + used, sizeof(o->reason) - used,
						 "%sline %u: %s", used ? "; " : "",
						 w->a->lines[i]->line_no, w->errors[i]);
		}
	}
	o->status = decided == w->n ? "complete" : decided > 0 ? "partial" : "error";
	o->code = decided == w->n ? CLAIMS__OUTCOME__OUTCOME_COMPLETE
		  : decided > 0	  ? CLAIMS__OUTCOME__OUTCOME_PARTIAL
				  : CLAIMS__OUTCOME__OUTCOME_ERROR;
}

static void fill_decision(const struct claim_work *w, size_t i, Claims__LineDecision *x,
			  char **names)
{
	const struct rules_line_result *r = &w->results[i];

	claims__line_decision__init(x);
	x->has_line_no = 1;
	x->line_no = w->a->lines[i]->line_no;
	x->line_ref = w->a->lines[i]->line_ref;
	if (w->fv[i] == NULL) {
		x->error = (char *)w->errors[i];
		return;
	}
	x->has_charged_cents = x->has_amo_gross_cents = x->has_pf_cents = 1;
	x->has_franchise_cents = x->has_amo_paid_cents = x->has_amc_cents = 1;
	x->has_forfait_cents = x->has_rac_cents = 1;
	x->charged_cents = r->charged_cents;
	x->amo_gross_cents = r->amo_gross_cents;
	x->pf_cents = r->pf_cents;
	x->franchise_cents = r->franchise_cents;
	x->amo_paid_cents = r->amo_paid_cents;
	x->amc_cents = r->amc_cents;
	x->forfait_cents = r->forfait_cents;
	x->rac_cents = r->rac_cents;
	x->n_rules = r->n_rules;
	x->rules = names;
	for (int k = 0; k < r->n_rules; k++)
		x->rules[k] = (char *)rules_rule_name(r->rules[k]);
}

/* Every line's decision as a LineDecision, for the event and the quote. */
struct line_decisions {
	Claims__LineDecision *d, **ptrs;
	char **names; /* RULES_TRACE_MAX rule names per line */
};

static void decisions_fill(const struct claim_work *w, struct line_decisions *ld)
{
	ld->d = xcalloc(w->n, sizeof(*ld->d));
	ld->ptrs = xcalloc(w->n, sizeof(*ld->ptrs));
	ld->names = xcalloc(w->n * RULES_TRACE_MAX + 1, sizeof(*ld->names));
	for (size_t i = 0; i < w->n; i++) {
		fill_decision(w, i, &ld->d[i], &ld->names[i * RULES_TRACE_MAX]);
		ld->ptrs[i] = &ld->d[i];
	}
}

static void decisions_free(struct line_decisions *ld)
{
	free(ld->names);
	free(ld->ptrs);
	free(ld->d);
}

static int pack_event(const struct claim_work *w, const struct outcome *o, const char *trace_id,
		      char *event_id, uint8_t **buf, size_t *len)
{
	Claims__ReimbursementComputed ev = CLAIMS__REIMBURSEMENT_COMPUTED__INIT;
	struct line_decisions ld;
	int status;

	ev.claim_id = w->a->claim_id;
	ev.has_contract_id = ev.has_beneficiary_id = ev.has_outcome = 1;
	ev.contract_id = w->a->contract_id;
	ev.beneficiary_id = w->a->beneficiary_id;
	ev.outcome = o->code;
	ev.membership_number = w->a->membership_number;
	ev.external_id = w->a->external_id;
	ev.source = w->a->source;
	ev.has_total_charged_cents = ev.has_total_amo_paid_cents = 1;
	ev.has_total_amc_cents = ev.has_total_rac_cents = 1;
	ev.total_charged_cents = o->charged;
	ev.total_amo_paid_cents = o->amo_paid;
	ev.total_amc_cents = o->amc;
	ev.total_rac_cents = o->rac;
	decisions_fill(w, &ld);
	ev.n_lines = w->n;
	ev.lines = ld.ptrs;
	status = envelope_pack(CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED, &ev.base, trace_id,
			       "reimburse", event_id, buf, len);
	decisions_free(&ld);
	return status;
}

static int outcome_index(Claims__Outcome code)
{
	return code == CLAIMS__OUTCOME__OUTCOME_COMPLETE  ? 0
	       : code == CLAIMS__OUTCOME__OUTCOME_PARTIAL ? 1
							  : 2;
}

/* The outcomes of the transaction in flight reach the metrics once it
 * commits (the worker's committed hook): a batch tried again, whole or
 * message by message, counts its claims once. */
void reimburse_count_committed(struct reimburse_ctx *ctx)
{
	static const char *const names[REIMBURSE_OUTCOMES] = {
		"reimburse_claims_total{outcome=\"complete\"}",
		"reimburse_claims_total{outcome=\"partial\"}",
		"reimburse_claims_total{outcome=\"error\"}",
	};

	for (int k = 0; k < REIMBURSE_OUTCOMES; k++)
		if (ctx->uncounted[k] > 0)
			metric_add(metric_counter(names[k], "Claims decided, by outcome"),
				   ctx->uncounted[k]);
	if (ctx->uncounted_redelivered > 0)
		metric_add(metric_counter("reimburse_redelivered_total",
					  "Claims found decided already (redelivery)"),
			   ctx->uncounted_redelivered);
	memset(ctx->uncounted, 0, sizeof(ctx->uncounted));
	ctx->uncounted_redelivered = 0;
}

static int add_claim(struct batch_write *bw, const struct claim_work *w, const char *trace_id)
{
	int professional = w->a->payee == CLAIMS__PAYEE__PAYEE_PROFESSIONAL;
	char event_id[UUID_STR_LEN];
	struct outcome o;
	uint8_t *event;
	size_t len;

	summarise(w, &o);
	if (pack_event(w, &o, trace_id, event_id, &event, &len) != OK)
		return ERR;
	add_lines(bw, w);
	pgarray_text(&bw->a[A_C_CLAIM], w->a->claim_id);
	pgarray_text(&bw->a[A_C_STATUS], o.status);
	o.reason[0] ? pgarray_text(&bw->a[A_C_REASON], o.reason) : pgarray_null(&bw->a[A_C_REASON]);
	pgarray_text(&bw->a[A_P_CLAIM], w->a->claim_id);
	pgarray_text(&bw->a[A_P_PAYEE], professional ? "professional" : "member");
	pgarray_text(&bw->a[A_P_REF], professional && w->a->professional_id ? w->a->professional_id
				      : w->a->membership_number ? w->a->membership_number
								: "");
	pgarray_int(&bw->a[A_P_AMOUNT], o.amc);
	pgarray_text(&bw->a[A_O_ID], event_id);
	pgarray_int(&bw->a[A_O_KEY], w->a->contract_id);
	pgarray_hex(&bw->a[A_O_PAYLOAD], event, len);
	if (bw->keep_event) {
		free(bw->event);
		bw->event = event;
		bw->event_len = len;
	} else {
		free(event);
	}
	bw->claims++;
	bw->outcomes[outcome_index(o.code)]++;
	return OK;
}

static int write_batch(struct pg *db, struct batch_write *bw)
{
	char msg_type[8];
	const char *v[WRITE_PARAMS];
	int k = 0;

	snprintf(msg_type, sizeof(msg_type), "%d", CLAIMS__MESSAGE_TYPE__REIMBURSEMENT_COMPUTED);
	for (int a = 0; a < A_COUNT; a++)
		pgarray_finish(&bw->a[a]);
	/* $1..$25 are the arrays up to the payments, $26 the type, then the events. */
	for (int a = A_CLAIM; a <= A_P_AMOUNT; a++)
		v[k++] = bw->a[a].buf;
	v[k++] = msg_type;
	for (int a = A_O_ID; a <= A_O_PAYLOAD; a++)
		v[k++] = bw->a[a].buf;
	return pg_exec_prepared(db, "reimburse_write", WRITE_PARAMS, v, NULL, NULL, NULL);
}

/* ---- the batch --------------------------------------------------------------------- */

/* What a decoded claim needs before any query: one without it can never
 * be decided, and goes to the dead letters with the reason. */
static void check_claim(struct reimburse_item *it)
{
	const Claims__ClaimAccepted *a = it->claim;

	if (a != NULL && (a->claim_id == NULL || !uuid_valid(a->claim_id) ||
			  a->birth_date == NULL || a->n_lines == 0))
		snprintf(it->poison, sizeof(it->poison),
			 "ClaimAccepted without claim id, birth date or lines");
}

static int decide_all(struct reimburse_ctx *ctx, struct reimburse_item *items, int n,
		      struct histories *hs, struct batch_write *bw)
{
	for (int i = 0; i < n; i++) {
		struct claim_work w;
		int status;

		if (!items[i].queued)
			continue;
		if (prepare_work(ctx, &items[i], history_of(hs, items[i].person_id), &w) != OK) {
			snprintf(items[i].poison, sizeof(items[i].poison),
				 "malformed birth date %s", items[i].claim->birth_date);
			items[i].queued = 0;
			work_free(&w);
			continue;
		}
		compute_all(ctx->params, &w);
		status = add_claim(bw, &w, items[i].env.trace_id);
		work_free(&w);
		if (status != OK)
			return ERR;
	}
	return OK;
}

/* A change of the formulas committed since the last batch (announced on
 * FORMULAS_CHANNEL) has the versions read again before this batch: a
 * version published with a past effective date, closing one in memory,
 * applies at once. A claim naming a formula version this worker has not
 * loaded yet (just published, its notice not yet read) would be decided
 * in error: the versions are read again first, at most once a second,
 * before any claim of the batch points into them. Only when a newer version may exist (an unknown formula, a
 * date after every known version's end): care before a formula's first
 * version is a plain partial claim, not a reason to reload. A claim an
 * operator sends again to be decided (redecide) reloads them whatever
 * the last load: the missing version was published just before. */
static int formulas_for(struct reimburse_ctx *ctx, struct pg *db, struct reimburse_item *items,
			int n)
{
	int missing = 0, redecide = 0, changed = pg_notified(db, FORMULAS_CHANNEL);

	for (int i = 0; i < n; i++) {
		const Claims__ClaimAccepted *a = items[i].claim;

		if (a == NULL || !items[i].queued || items[i].poison[0] != '\0')
			continue;
		redecide |= a->has_redecide && a->redecide;
		for (size_t k = 0; k < a->n_lines && !missing; k++) {
			rules_date_t d;

			missing = a->lines[k]->care_date != NULL &&
				  rules_date_parse(a->lines[k]->care_date, &d) == RULES_OK &&
				  formulas_find(&ctx->formulas, items[i].formula_code, d) == NULL &&
				  formulas_may_be_newer(&ctx->formulas, items[i].formula_code, d);
		}
	}
	if ((redecide || changed ||
	     (missing && clock_mono_us() - ctx->formulas.loaded_at_us > 1000000)) &&
	    formulas_load(db, &ctx->formulas) != OK) {
		/* A change heard and not read: at the next step, not a period. */
		ctx->formulas.loaded_at_us = changed ? 0 : clock_mono_us();
		/* A query that failed aborted the batch's transaction: the
		 * batch fails with its SQLSTATE (a timeout, a schema out of
		 * step: tried again, never dead letters). Versions that would
		 * not load leave it going, with the versions loaded before. */
		if (PQtransactionStatus(pg_conn(db)) == PQTRANS_INERROR)
			return ERR;
		log_warn("formula reload failed; keeping the versions loaded before");
	}
	return OK;
}

int reimburse_batch(struct reimburse_ctx *ctx, struct pg *db, struct reimburse_item *items, int n)
{
	struct histories hs = {NULL, 0};
	struct person_keys keys = {NULL, 0};
	struct batch_write bw;
	int status = ERR, redelivered = 0;

	/* One call per transaction: what an earlier try tallied is gone. */
	memset(ctx->uncounted, 0, sizeof(ctx->uncounted));
	ctx->uncounted_redelivered = 0;

	for (int i = 0; i < n; i++) {
		items[i].queued = items[i].found = 0;
		check_claim(&items[i]);
	}
	if (lock_persons(db, items, n, &keys) != OK || lock_claims(db, items, n) != OK ||
	    lock_changed_persons(db, items, n, &keys) != OK ||
	    load_histories(db, items, n, &hs) != OK)
		goto out;
	if (formulas_for(ctx, db, items, n) != OK)
		goto out;
	memset(&bw, 0, sizeof(bw));
	for (int a = 0; a < A_COUNT; a++)
		pgarray_init(&bw.a[a]);
	status = decide_all(ctx, items, n, &hs, &bw);
	if (status == OK && bw.claims > 0)
		status = write_batch(db, &bw);
	for (int a = 0; a < A_COUNT; a++)
		pgarray_free(&bw.a[a]);
	for (int i = 0; i < n; i++)
		redelivered += items[i].claim != NULL && items[i].found && !items[i].queued &&
			       items[i].poison[0] == '\0';
	if (status == OK) {
		memcpy(ctx->uncounted, bw.outcomes, sizeof(ctx->uncounted));
		ctx->uncounted_redelivered = redelivered;
	}
out:
	free(keys.k);
	histories_free(&hs);
	return status;
}

int reimburse_decide_one(struct reimburse_ctx *ctx, struct reimburse_item *item, uint8_t **event,
			 size_t *event_len)
{
	struct history h;
	struct histories hs = {&h, 1};
	struct batch_write bw;
	int status;

	*event = NULL;
	*event_len = 0;
	item->queued = item->found = 0;
	check_claim(item);
	if (item->claim == NULL || item->poison[0] != '\0')
		return OK;
	/* As lock_claims() finds a claim waiting for its decision, and
	 * load_histories() a beneficiary without counters. */
	item->found = item->queued = 1;
	memset(&h, 0, sizeof(h));
	item->person_id = item->claim->beneficiary_id; /* a person of one row */
	h.person_id = item->person_id;
	memset(&bw, 0, sizeof(bw));
	for (int a = 0; a < A_COUNT; a++)
		pgarray_init(&bw.a[a]);
	bw.keep_event = 1;
	status = decide_all(ctx, item, 1, &hs, &bw);
	for (int a = 0; a < A_COUNT; a++)
		pgarray_free(&bw.a[a]);
	free(h.items);
	if (status != OK) {
		free(bw.event);
		return ERR;
	}
	*event = bw.event;
	*event_len = bw.event_len;
	return OK;
}

/* ---- quotes: the same computation, nothing written ------------------------------------ */

/* Whose history each quote reads: its beneficiary's person (a claim's is
 * read with its row lock, lock_claims()). A beneficiary the table does
 * not hold is a person of its own, without counters. */
static int find_persons(struct pg *db, struct reimburse_item *items, int n)
{
	struct pgarray ids;
	const char *v[1];
	PGresult *res;
	int status;

	pgarray_init(&ids);
	for (int i = 0; i < n; i++) {
		items[i].person_id = items[i].claim->beneficiary_id;
		pgarray_int(&ids, items[i].claim->beneficiary_id);
	}
	v[0] = pgarray_finish(&ids);
	status = pg_exec_prepared(db, "reimburse_persons", 1, v, NULL, NULL, &res);
	pgarray_free(&ids);
	if (status != OK)
		return ERR;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t beneficiary = strtoll(PQgetvalue(res, r, 0), NULL, 10);

		for (int i = 0; i < n; i++)
			if (items[i].claim->beneficiary_id == beneficiary)
				items[i].person_id = strtoll(PQgetvalue(res, r, 1), NULL, 10);
	}
	PQclear(res);
	return OK;
}

/* The professional's answer, ready for the front door to pass on. */
static int pack_quote_reply(const struct claim_work *w, const struct outcome *o,
			    struct reimburse_quote *q)
{
	Claims__QuoteReply r = CLAIMS__QUOTE_REPLY__INIT;
	struct line_decisions ld;
	char id[UUID_STR_LEN];
	int status;

	r.request_id = (char *)q->request_id;
	r.quote_id = w->a->claim_id;
	r.valid_until = (char *)q->valid_until;
	r.has_total_amc_cents = r.has_total_rac_cents = 1;
	r.has_total_charged_cents = r.has_total_amo_paid_cents = 1;
	r.total_charged_cents = o->charged;
	r.total_amo_paid_cents = o->amo_paid;
	r.total_amc_cents = o->amc;
	r.total_rac_cents = o->rac;
	decisions_fill(w, &ld);
	r.n_lines = w->n;
	r.lines = ld.ptrs;
	status = envelope_pack(CLAIMS__MESSAGE_TYPE__QUOTE_REPLY, &r.base, q->trace_id, "reimburse",
			       id, &q->reply, &q->reply_len);
	decisions_free(&ld);
	return status;
}

static void quote_one(struct reimburse_ctx *ctx, struct reimburse_item *item, struct histories *hs,
		      struct reimburse_quote *q)
{
	struct history *h = history_of(hs, item->person_id);
	size_t keep = h->n;
	struct claim_work w;
	struct outcome o;

	if (prepare_work(ctx, item, h, &w) == OK) {
		compute_all(ctx->params, &w);
		summarise(&w, &o);
		q->totals.charged = o.charged;
		q->totals.amo_paid = o.amo_paid;
		q->totals.amc = o.amc;
		q->totals.rac = o.rac;
		if (pack_quote_reply(&w, &o, q) != OK)
			q->reply = NULL;
	}
	work_free(&w);
	/* What this quote computed is not consumption: the next quote of
	 * the batch for the same beneficiary must not see it. */
	h->n = keep;
}

/* The quotes as the items of a batch, each claim queued under its
 * formula; their replies unset. */
static struct reimburse_item *quote_items(struct reimburse_quote *q, int n)
{
	struct reimburse_item *items = xcalloc((size_t)n, sizeof(*items));

	for (int i = 0; i < n; i++) {
		items[i].claim = (Claims__ClaimAccepted *)q[i].claim;
		items[i].queued = 1;
		snprintf(items[i].formula_code, sizeof(items[i].formula_code), "%s",
			 q[i].formula_code);
		q[i].reply = NULL;
		q[i].reply_len = 0;
	}
	return items;
}

int reimburse_quote_batch(struct reimburse_ctx *ctx, struct pg *db, struct reimburse_quote *q,
			  int n)
{
	struct reimburse_item *items = quote_items(q, n);
	struct histories hs = {NULL, 0};
	int status;

	/* The counters are read, never written: what a quote shows is what
	 * the claim would get if it came now. */
	status = find_persons(db, items, n);
	if (status == OK)
		status = load_histories(db, items, n, &hs);
	for (int i = 0; i < n && status == OK; i++)
		quote_one(ctx, &items[i], &hs, &q[i]);
	histories_free(&hs);
	free(items);
	return status;
}

void reimburse_quote_one(struct reimburse_ctx *ctx, struct reimburse_quote *q)
{
	struct reimburse_item *items = quote_items(q, 1);
	struct histories hs = {NULL, 0};

	/* What load_histories() finds of a beneficiary without counters. */
	items[0].person_id = items[0].claim->beneficiary_id; /* a person of one row */
	list_persons(items, 1, &hs);
	quote_one(ctx, items, &hs, q);
	histories_free(&hs);
	free(items);
}
