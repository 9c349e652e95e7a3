/*
 * NAME
 *	tpgate_rights.c - members' rights: Redis first, PostgreSQL on a miss
 *
 * DESCRIPTION
 *	A member's contracts and beneficiaries are cached in Redis as one
 *	RightsSnapshot (protobuf) under tp:rights:<membership number> (read
 *	with the admission check, in the same pipeline: tpgate_admit.c), for
 *	CLAIMS_TP_RIGHTS_TTL seconds; an unknown number is cached too, for
 *	a minute, so that guessing numbers cannot push every request to the
 *	database. A change of contract drops the key (contracts.changed,
 *	and `claimctl contract`): the TTL only bounds how long a missed
 *	invalidation could last. A failed cache read or write falls back
 *	to PostgreSQL (the admission check before it, which has no such
 *	fallback, answers UNAVAILABLE while Redis is down: sessions and
 *	rate limits cannot be verified without it).
 *
 *	The catalogue of formula versions and the categories each covers
 *	(the "domains" of an ELIGIBILITY reply) is small and changes only
 *	when a version is published: it is kept in memory and reloaded
 *	every minute.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/tpkeys.h"
#include "common/xalloc.h"
#include "tpgate/tpgate.h"

#define UNKNOWN_MEMBER_TTL 60
#define MAX_DOMAINS	   64
/* After a failed reload of the formula catalogue, the next try. */
#define TP_CATALOG_RETRY_US 5000000LL

struct catalog_entry {
	char code[64];
	int32_t from, to; /* to exclusive; 0 when open */
	char *categories; /* comma-separated, split in place into names */
	const char *names[MAX_DOMAINS];
	size_t n;
};

struct tp_rights_store {
	struct pg *db;
	struct redis_conn *redis;
	long ttl_s;
	struct catalog_entry *catalog;
	size_t n_catalog;
	int64_t catalog_at_us;
	int64_t catalog_retry_us; /* after a failed reload, not before then */
	struct metric *hits, *misses, *redis_errors;
};

int tp_rights_prepare(struct pg *db)
{
	if (pg_prepare(db, "tp_rights",
		       "SELECT c.contract_id, c.formula_code, c.amc_number, c.status,"
		       " c.start_date - date '1970-01-01', c.end_date - date '1970-01-01',"
		       " f.responsible, b.beneficiary_id, b.rank, b.birth_date::text,"
		       " array_to_string(b.exemptions, ','), b.start_date - date '1970-01-01',"
		       " b.end_date - date '1970-01-01', c.suspended_from - date '1970-01-01',"
		       " b.person_id"
		       " FROM members m JOIN contracts c ON c.member_id = m.member_id"
		       " JOIN formulas f ON f.formula_code = c.formula_code"
		       " JOIN beneficiaries b ON b.contract_id = c.contract_id"
		       " WHERE m.membership_number = $1 ORDER BY c.contract_id, b.rank",
		       1) != OK ||
	    pg_prepare(db, "tp_catalog",
		       "SELECT v.formula_code, v.effective_from - date '1970-01-01',"
		       " coalesce(v.effective_to - date '1970-01-01', 0),"
		       " coalesce(string_agg(g.category, ',' ORDER BY g.category), '')"
		       " FROM formula_versions v"
		       " LEFT JOIN guarantees g USING (formula_code, version)"
		       " GROUP BY 1, 2, 3 ORDER BY 1, 2",
		       0) != OK)
		return ERR;
	return OK;
}

int tp_rights_open(struct pg *db, struct redis_conn *redis, long ttl_s,
		   struct tp_rights_store **out)
{
	struct tp_rights_store *s = xcalloc(1, sizeof(*s));

	s->db = db;
	s->redis = redis;
	s->ttl_s = ttl_s;
	s->hits = metric_counter("tpgate_rights_cache_total{result=\"hit\"}",
				 "Rights lookups, by cache result");
	s->misses = metric_counter("tpgate_rights_cache_total{result=\"miss\"}",
				   "Rights lookups, by cache result");
	s->redis_errors =
		metric_counter("tpgate_redis_errors_total",
			       "Redis commands that failed (the database answered instead)");
	if (tp_rights_prepare(db) != OK) {
		free(s);
		return ERR;
	}
	*out = s;
	return OK;
}

static void catalog_free(struct tp_rights_store *s)
{
	for (size_t i = 0; i < s->n_catalog; i++)
		free(s->catalog[i].categories);
	free(s->catalog);
	s->catalog = NULL;
	s->n_catalog = 0;
}

void tp_rights_close(struct tp_rights_store *s)
{
	if (s == NULL)
		return;
	catalog_free(s);
	free(s);
}

/* ---- the snapshot from PostgreSQL ---------------------------------------------------- */

static int32_t day_of(PGresult *res, int r, int c, protobuf_c_boolean *has)
{
	if (PQgetisnull(res, r, c)) {
		if (has)
			*has = 0;
		return 0;
	}
	if (has)
		*has = 1;
	return (int32_t)strtol(PQgetvalue(res, r, c), NULL, 10);
}

static void contract_row(Claims__RightsContract *c, PGresult *res, int r)
{
	claims__rights_contract__init(c);
	c->has_contract_id = c->has_start_day = c->has_responsible = 1;
	c->contract_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	c->formula_code = PQgetvalue(res, r, 1);
	c->amc_number = PQgetvalue(res, r, 2);
	c->status = PQgetvalue(res, r, 3);
	c->start_day = day_of(res, r, 4, NULL);
	c->end_day = day_of(res, r, 5, &c->has_end_day);
	c->responsible = PQgetvalue(res, r, 6)[0] == 't';
	c->suspended_from_day = day_of(res, r, 13, &c->has_suspended_from_day);
}

static void beneficiary_row(Claims__RightsBeneficiary *b, char **exemptions, PGresult *res, int r)
{
	char *text = PQgetvalue(res, r, 10), *save = NULL;

	claims__rights_beneficiary__init(b);
	b->has_beneficiary_id = b->has_contract_id = b->has_rank = b->has_start_day = 1;
	b->beneficiary_id = strtoll(PQgetvalue(res, r, 7), NULL, 10);
	b->contract_id = strtoll(PQgetvalue(res, r, 0), NULL, 10);
	b->rank = (uint32_t)strtoul(PQgetvalue(res, r, 8), NULL, 10);
	b->birth_date = PQgetvalue(res, r, 9);
	b->start_day = day_of(res, r, 11, NULL);
	b->end_day = day_of(res, r, 12, &b->has_end_day);
	b->has_person_id = 1;
	b->person_id = strtoll(PQgetvalue(res, r, 14), NULL, 10);
	b->exemptions = exemptions;
	for (char *t = strtok_r(text, ",", &save); t != NULL && b->n_exemptions < 8;
	     t = strtok_r(NULL, ",", &save))
		exemptions[b->n_exemptions++] = t;
}

/* The packed snapshot of the member, read from PostgreSQL. */
static int load_from_db(struct tp_rights_store *s, const char *number, uint8_t **packed,
			size_t *len, int *known)
{
	Claims__RightsSnapshot snap = CLAIMS__RIGHTS_SNAPSHOT__INIT;
	const char *v[1] = {number};
	PGresult *res;
	int n;

	if (pg_exec_prepared(s->db, "tp_rights", 1, v, NULL, NULL, &res) != OK)
		return ERR;
	n = PQntuples(res);
	Claims__RightsContract *contracts = xcalloc((size_t)n + 1, sizeof(*contracts));
	Claims__RightsContract **cp = xcalloc((size_t)n + 1, sizeof(*cp));
	Claims__RightsBeneficiary *bens = xcalloc((size_t)n + 1, sizeof(*bens));
	Claims__RightsBeneficiary **bp = xcalloc((size_t)n + 1, sizeof(*bp));
	char **exemptions = xcalloc((size_t)n * 8 + 1, sizeof(*exemptions));

	snap.membership_number = (char *)number;
	snap.has_loaded_at_us = 1;
	snap.loaded_at_us = clock_now_us();
	for (int r = 0; r < n; r++) {
		if (snap.n_contracts == 0 || cp[snap.n_contracts - 1]->contract_id !=
						     strtoll(PQgetvalue(res, r, 0), NULL, 10)) {
			contract_row(&contracts[snap.n_contracts], res, r);
			cp[snap.n_contracts] = &contracts[snap.n_contracts];
			snap.n_contracts++;
		}
		beneficiary_row(&bens[r], &exemptions[r * 8], res, r);
		bp[r] = &bens[r];
	}
	snap.contracts = cp;
	snap.n_beneficiaries = (size_t)n;
	snap.beneficiaries = bp;
	*len = claims__rights_snapshot__get_packed_size(&snap);
	*packed = xmalloc(*len + 1);
	claims__rights_snapshot__pack(&snap, *packed);
	*known = n > 0;
	free(exemptions);
	free(bp);
	free(bens);
	free(cp);
	free(contracts);
	PQclear(res);
	return OK;
}

/* ---- the cache ------------------------------------------------------------------------ */

/* NX: never over a fresher value, nor over the mark of a change made
 * since we read (tpkeys.h); a value we could not read is replaced. */
static void cache_put(struct tp_rights_store *s, const char *key, const uint8_t *packed, size_t len,
		      long ttl, int replace)
{
	redisReply *reply;

	if (redis_command(s->redis, &reply, replace ? "SET %s %b EX %ld" : "SET %s %b EX %ld NX",
			  key, packed, len, ttl) != OK) {
		metric_add(s->redis_errors, 1);
		return; /* served from the database; the next request tries again */
	}
	freeReplyObject(reply);
}

/* A snapshot cached before rows carried their person (person_id, an
 * older release) cannot tell one person with two ranks from two persons,
 * nor name who intake would: it is read again, as a value this version
 * cannot read. */
static int with_persons(const Claims__RightsSnapshot *snap)
{
	for (size_t i = 0; i < snap->n_beneficiaries; i++)
		if (!snap->beneficiaries[i]->has_person_id)
			return 0;
	return 1;
}

int tp_rights_get(struct tp_rights_store *s, const char *number, const redisReply *cached,
		  Claims__RightsSnapshot **out)
{
	char key[128];
	uint8_t *packed;
	size_t len;
	int known;
	/* A value to read; empty is the mark of a recent change, a miss. */
	int value = cached != NULL && cached->type == REDIS_REPLY_STRING && cached->len > 0;

	*out = NULL;
	if (value)
		*out = claims__rights_snapshot__unpack(NULL, cached->len,
						       (const uint8_t *)cached->str);
	if (*out != NULL && !with_persons(*out)) {
		claims__rights_snapshot__free_unpacked(*out, NULL);
		*out = NULL;
	}
	if (*out != NULL) {
		metric_add(s->hits, 1);
		return OK;
	}
	/* A miss, or a value this version cannot read: read it again. */
	metric_add(s->misses, 1);
	if (load_from_db(s, number, &packed, &len, &known) != OK)
		return ERR;
	snprintf(key, sizeof(key), TP_KEY_RIGHTS, number);
	cache_put(s, key, packed, len, known ? s->ttl_s : UNKNOWN_MEMBER_TTL, value);
	*out = claims__rights_snapshot__unpack(NULL, len, packed);
	free(packed);
	return *out != NULL ? OK : ERR;
}

/* ---- the catalogue of formula versions ------------------------------------------------ */

static void split_categories(struct catalog_entry *e)
{
	char *save = NULL;

	e->n = 0;
	for (char *t = strtok_r(e->categories, ",", &save); t != NULL && e->n < MAX_DOMAINS;
	     t = strtok_r(NULL, ",", &save))
		e->names[e->n++] = t;
}

int tp_catalog_refresh(struct tp_rights_store *s, long max_age_s)
{
	PGresult *res;

	if (s->catalog_at_us != 0 && clock_mono_us() - s->catalog_at_us < max_age_s * 1000000)
		return OK;
	if (clock_mono_us() < s->catalog_retry_us)
		return OK; /* failed a moment ago: the one kept serves */
	if (pg_exec_prepared(s->db, "tp_catalog", 0, NULL, NULL, NULL, &res) != OK) {
		/* Not at every step of the loop (a log line each) while the
		 * database is away. */
		s->catalog_retry_us = clock_mono_us() + TP_CATALOG_RETRY_US;
		return ERR;
	}
	catalog_free(s);
	s->n_catalog = (size_t)PQntuples(res);
	s->catalog = xcalloc(s->n_catalog + 1, sizeof(*s->catalog));
	for (size_t i = 0; i < s->n_catalog; i++) {
		struct catalog_entry *e = &s->catalog[i];

		snprintf(e->code, sizeof(e->code), "%s", PQgetvalue(res, (int)i, 0));
		e->from = (int32_t)strtol(PQgetvalue(res, (int)i, 1), NULL, 10);
		e->to = (int32_t)strtol(PQgetvalue(res, (int)i, 2), NULL, 10);
		e->categories = xstrdup(PQgetvalue(res, (int)i, 3));
		split_categories(e);
	}
	PQclear(res);
	s->catalog_at_us = clock_mono_us();
	return OK;
}

size_t tp_catalog_domains(const struct tp_rights_store *s, const char *code, int32_t day,
			  const char **out, size_t max)
{
	for (size_t i = 0; i < s->n_catalog; i++) {
		const struct catalog_entry *e = &s->catalog[i];
		size_t n = e->n < max ? e->n : max;

		if (strcmp(e->code, code) != 0 || day < e->from || (e->to != 0 && day >= e->to))
			continue;
		memcpy(out, e->names, n * sizeof(*out));
		return n;
	}
	return 0;
}
