/*
 * NAME
 *	reimburse_formulas.c - formula versions and guarantees, in memory
 *
 * DESCRIPTION
 *	Every claim needs the guarantees of its contract's formula valid at
 *	each care date. They change by publication of a new version, never
 *	in place (deploy/sql/001_reference.sql), so they are read and parsed
 *	once into rules_contract values and looked up in memory; the daemon
 *	reloads them when PostgreSQL announces a change (FORMULAS_CHANNEL,
 *	before the next batch or quote), periodically (CLAIMS_FORMULA_RELOAD
 *	seconds: a notice lost with a connection is caught there too) and, at
 *	most once a second, before a batch with a claim on a version it does
 *	not know.
 *
 *	A version with a guarantee this release cannot read (a category of
 *	a newer release, published during a rolling upgrade; a spec written
 *	by hand that the engine refuses) is refused alone, said in the log
 *	and in reimburse_formula_versions_refused, and kept for its dates
 *	(when they can be read: read_period()): the care it is in force for
 *	is left undecided (FORMULA_REFUSED),
 *	for claimctl claim redecide once it is mended. Refusing the whole
 *	load instead kept every worker on the versions it had (a version
 *	closed by the new one paid on past its end) and stopped any worker
 *	from starting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "common/xalloc.h"
#include "reimburse/reimburse.h"
#include "rules/rules_json.h"

enum bound { BOUND_OK, BOUND_NEVER, BOUND_UNREADABLE };

/* A version's first day (is_to 0) or end (1), as PostgreSQL writes a
 * date. The engine's dates run from 1900 to 2199: an end past them
 * (9999-12-31, the "open" of much data, or infinity) is open (0), a
 * first day before them the first the engine knows; a version whose end
 * comes before them, or whose first day after, is never in force. */
static enum bound read_bound(const char *s, int is_to, rules_date_t *out)
{
	size_t len = s != NULL ? strlen(s) : 0;
	int year;

	*out = 0;
	if (len == 0)
		return BOUND_OK;
	if (rules_date_parse(s, out) == RULES_OK)
		return BOUND_OK;
	if (len > 3 && strcmp(s + len - 3, " BC") == 0)
		year = 0; /* before Christ: before 1900, whatever its year */
	else if (strcmp(s, "infinity") == 0)
		year = 10000;
	else if (strcmp(s, "-infinity") == 0)
		year = 0;
	else if (sscanf(s, "%d-", &year) != 1)
		return BOUND_UNREADABLE;
	if (year > 2199) {
		*out = 0;
		return is_to ? BOUND_OK : BOUND_NEVER;
	}
	if (year < 1900) {
		if (is_to)
			return BOUND_NEVER;
		return rules_date_parse("1900-01-01", out) == RULES_OK ? BOUND_OK
								       : BOUND_UNREADABLE;
	}
	return BOUND_UNREADABLE; /* in range, yet not a date */
}

/* The dates of version f from its row, or an empty period. */
static void read_period(struct formula_cache *c, struct formula_version *f, const char *from,
			const char *to)
{
	enum bound a = read_bound(from, 0, &f->from), b = read_bound(to, 1, &f->to);

	if (a == BOUND_OK && b == BOUND_OK)
		return;
	/* [1, 1): in force on no day, nor open (formulas_may_be_newer()).
	 * One whose period cannot be read is refused, and its care cannot
	 * be told apart from care no version covers (NO_GUARANTEE_IN_FORCE):
	 * said here, and in the refused gauge. */
	f->from = f->to = 1;
	if (a == BOUND_NEVER || b == BOUND_NEVER)
		return;
	log_error("formula %s v%d refused: its period [%s, %s) cannot be read", f->code, f->version,
		  from, to);
	f->refused = 1;
	c->refused++;
}

static int load_guarantee(struct formula_version *f, const char *category, const char *spec)
{
	enum rules_category cat;
	struct rules_error err;
	json_error_t jerr;
	json_t *obj;
	int status;

	if (rules_category_parse(category, &cat) != RULES_OK) {
		log_error("formula %s v%d: unknown category %s", f->code, f->version, category);
		return ERR;
	}
	obj = json_loads(spec, 0, &jerr);
	if (obj == NULL) {
		log_error("formula %s v%d %s: %s", f->code, f->version, category, jerr.text);
		return ERR;
	}
	status = rules_json_guarantee(obj, cat, &f->contract.g[cat], category, &err);
	json_decref(obj);
	if (status != RULES_OK) {
		log_error("formula %s v%d: %s: %s", f->code, f->version, err.field, err.reason);
		return ERR;
	}
	return OK;
}

static struct formula_version *find_exact(struct formula_cache *c, const char *code, int version)
{
	for (int i = 0; i < c->count; i++)
		if (c->v[i].version == version && strcmp(c->v[i].code, code) == 0)
			return &c->v[i];
	return NULL;
}

static int fill(struct formula_cache *c, PGresult *res)
{
	int rows = PQntuples(res);

	c->v = xcalloc((size_t)rows + 1, sizeof(*c->v));
	for (int i = 0; i < rows; i++) {
		const char *code = PQgetvalue(res, i, 0);
		int version = atoi(PQgetvalue(res, i, 1));
		struct formula_version *f = find_exact(c, code, version);

		if (f == NULL) {
			f = &c->v[c->count++];
			snprintf(f->code, sizeof(f->code), "%s", code);
			f->version = version;
			rules_contract_init(&f->contract, PQgetvalue(res, i, 2)[0] == 't');
			read_period(c, f, PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
		}
		if (!f->refused && !PQgetisnull(res, i, 5) &&
		    load_guarantee(f, PQgetvalue(res, i, 5), PQgetvalue(res, i, 6)) != OK) {
			log_error("formula %s v%d refused: the care it is in force for stays"
				  " undecided (FORMULA_REFUSED) until it is mended",
				  f->code, f->version);
			f->refused = 1;
			c->refused++;
		}
	}
	return OK;
}

int formulas_load(struct pg *db, struct formula_cache *cache)
{
	struct formula_cache fresh = {NULL, 0, 0, 0};
	PGresult *res;

	if (pg_exec_prepared(db, "reimburse_formulas", 0, NULL, NULL, NULL, &res) != OK)
		return ERR;
	if (fill(&fresh, res) != OK) {
		PQclear(res);
		formulas_free(&fresh);
		return ERR;
	}
	PQclear(res);
	fresh.loaded_at_us = clock_mono_us();
	formulas_free(cache);
	*cache = fresh;
	metric_set(metric_gauge("reimburse_formula_versions_refused",
				"Formula versions refused at the last load: a guarantee this"
				" release cannot read"),
		   cache->refused);
	log_info("%d formula versions loaded, %d refused", cache->count, cache->refused);
	return OK;
}

const struct formula_version *formulas_at(const struct formula_cache *cache, const char *code,
					  rules_date_t date)
{
	for (int i = 0; i < cache->count; i++) {
		const struct formula_version *f = &cache->v[i];

		if (strcmp(f->code, code) == 0 && f->from <= date && (f->to == 0 || date < f->to))
			return f;
	}
	return NULL;
}

const struct formula_version *formulas_find(const struct formula_cache *cache, const char *code,
					    rules_date_t date)
{
	const struct formula_version *f = formulas_at(cache, code, date);

	return f != NULL && !f->refused ? f : NULL;
}

int formulas_may_be_newer(const struct formula_cache *cache, const char *code, rules_date_t date)
{
	for (int i = 0; i < cache->count; i++) {
		const struct formula_version *f = &cache->v[i];

		/* A version of the code still open, or ending after the date:
		 * a date with no version in force falls before the first or in
		 * a gap, which no new publication is expected to fill. */
		if (strcmp(f->code, code) == 0 && (f->to == 0 || date < f->to))
			return 0;
	}
	return 1; /* an unknown formula, or a date after all its versions ended */
}

void formulas_free(struct formula_cache *cache)
{
	free(cache->v);
	cache->v = NULL;
	cache->count = 0;
	cache->refused = 0;
}
