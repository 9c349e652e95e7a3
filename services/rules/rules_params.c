/*
 * NAME
 *	rules_params.c - dated parameters of the rules engine
 *
 * SYNOPSIS
 *	rules_params_from_string(), rules_params_from_json()
 *	rules_params_at(), rules_params_act()
 *
 * DESCRIPTION
 *	Every amount, rate, cap and period that the law sets (PF, franchise,
 *	FJH, forfait urgences, optics ceilings, hearing aid ceiling, renewal
 *	periods, the contrat responsable limits, the tariffs of act codes)
 *	is data with an effective date, read from deploy/params/
 *	parameters.json by the caller and parsed here into struct
 *	rules_params (fixed size, no allocation). A group holds one or more
 *	versions; the one in force on a date is the latest whose `since` is
 *	not after it. Acts are versioned per code and age variant (G under 6
 *	is its own tariff). docs/rules.md documents the file.
 *
 *	The parser is declarative: each group is a table of members (name,
 *	offset, type, bounds) read by one loop.
 *
 * DIAGNOSTICS
 *	The first fault by JSON path in the file ("pf[0].daily_cap_cents",
 *	"acts[3].category"); rules_params_at() names the first group that
 *	has no version in force ("pf", "optics", ...).
 */
#include "rules/rules_internal.h"
#include "rules/rules_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_VERSION 1

enum kind { K_I64, K_I32 };

struct member {
	const char *name;
	size_t off;
	enum kind kind;
	int64_t min;
	int64_t max;
};

/* A member that is not one integer: its key and its reader. */
typedef int (*read_other_fn)(json_t *obj, const char *path, void *version, struct rules_error *err);

struct group {
	const char *name;
	size_t array_off; /* offset of the versions array in rules_params */
	size_t count_off; /* offset of its int count */
	size_t size;	  /* size of one version */
	const struct member *members;
	size_t n_members;
	const char *other; /* NULL: none */
	read_other_fn read_other;
};

/* clang-format off */
#define M64(T, f) {#f, offsetof(T, f), K_I64, 0, RULES_MAX_CENTS}
#define M32(T, f, min, max) {#f, offsetof(T, f), K_I32, min, max}
/* clang-format on */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct member pf_members[] = {
	M64(struct rules_pf_params, per_act_cents),
	M64(struct rules_pf_params, daily_cap_cents),
	M64(struct rules_pf_params, annual_cap_cents),
	M32(struct rules_pf_params, exempt_under_age, 0, 150),
};

static const struct member franchise_members[] = {
	M64(struct rules_franchise_params, pharma_per_unit_cents),
	M64(struct rules_franchise_params, auxiliaire_per_unit_cents),
	M64(struct rules_franchise_params, auxiliaire_daily_cap_cents),
	M64(struct rules_franchise_params, transport_per_trip_cents),
	M64(struct rules_franchise_params, transport_daily_cap_cents),
	M64(struct rules_franchise_params, annual_cap_cents),
	M32(struct rules_franchise_params, exempt_under_age, 0, 150),
};

static const struct member fjh_members[] = {
	M64(struct rules_fjh_params, per_day_cents),
	M64(struct rules_fjh_params, psychiatry_per_day_cents),
};

static const struct member fpu_members[] = {
	M64(struct rules_fpu_params, amount_cents),
	M64(struct rules_fpu_params, reduced_cents),
};

static const struct member optics_members[] = {
	M64(struct rules_optics_params, class_b_brss_cents),
	M64(struct rules_optics_params, frame_cap_cents),
};

static const struct member audio_members[] = {
	M64(struct rules_audio_params, class2_ceiling_cents),
};

/* A renewal period of 0 months would make every equipment due at once:
 * a second pair of glasses bought the same day would be paid. */
static const struct member renewal_members[] = {
	M32(struct rules_renewal_params, glasses_months, 1, RULES_MAX_RENEWAL_MONTHS),
	M32(struct rules_renewal_params, glasses_child_months, 1, RULES_MAX_RENEWAL_MONTHS),
	M32(struct rules_renewal_params, glasses_child_under_age, 0, 150),
	M32(struct rules_renewal_params, audio_months, 1, RULES_MAX_RENEWAL_MONTHS),
};

/* The non-OPTAM cover can never be capped below the 100 % BRSS of the
 * ticket modérateur a responsible contract must pay, and the reference
 * outside the parcours is the AMO's rate within it (70 %): at 0 the AMC
 * would pay the majoration, which must stay with the patient. */
static const struct member responsible_members[] = {
	M32(struct rules_responsible_params, non_optam_max_pct, 100, RULES_MAX_PCT),
	M32(struct rules_responsible_params, non_optam_gap_points, 0, RULES_MAX_PCT),
	M32(struct rules_responsible_params, parcours_ref_rate, 1, 100),
};

static int read_ceilings(json_t *obj, const char *path, void *version, struct rules_error *err);
static int read_exempt_rates(json_t *obj, const char *path, void *version, struct rules_error *err);

/* clang-format off */
#define GROUP(name, T, members, other, read_other)                                         \
	{#name, offsetof(struct rules_params, name), offsetof(struct rules_params, n_##name), \
	 sizeof(T), members, COUNT(members), other, read_other}
/* clang-format on */

static const struct group groups[] = {
	GROUP(pf, struct rules_pf_params, pf_members, NULL, NULL),
	GROUP(franchise, struct rules_franchise_params, franchise_members, NULL, NULL),
	GROUP(fjh, struct rules_fjh_params, fjh_members, NULL, NULL),
	GROUP(fpu, struct rules_fpu_params, fpu_members, NULL, NULL),
	GROUP(optics, struct rules_optics_params, optics_members, "ceilings_cents", read_ceilings),
	GROUP(audio, struct rules_audio_params, audio_members, NULL, NULL),
	GROUP(renewal, struct rules_renewal_params, renewal_members, NULL, NULL),
	GROUP(responsible, struct rules_responsible_params, responsible_members,
	      "pharma_tm_exempt_rates", read_exempt_rates),
};

/* Every version struct starts with its `since` date. */
_Static_assert(offsetof(struct rules_pf_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_franchise_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_fjh_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_fpu_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_optics_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_audio_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_renewal_params, since) == 0, "since first");
_Static_assert(offsetof(struct rules_responsible_params, since) == 0, "since first");

static unsigned char *version_at(const struct group *g, const struct rules_params *p, int i)
{
	return (unsigned char *)p + g->array_off + (size_t)i * g->size;
}

static int *count_of(const struct group *g, const struct rules_params *p)
{
	return (int *)(void *)((unsigned char *)p + g->count_off);
}

static rules_date_t since_of(const void *version)
{
	return *(const rules_date_t *)version;
}

/* ---- lookup ---------------------------------------------------------- */

/* The latest version whose since <= date (versions are sorted). */
static const void *in_force(const struct group *g, const struct rules_params *p, rules_date_t date)
{
	for (int i = *count_of(g, p) - 1; i >= 0; i--) {
		const unsigned char *v = version_at(g, p, i);

		if (since_of(v) <= date)
			return v;
	}
	return NULL;
}

int rules_params_at(const struct rules_params *p, rules_date_t date, struct rules_param_set *set,
		    struct rules_error *err)
{
	const void *v[COUNT(groups)];
	int missing = -1;

	for (size_t i = 0; i < COUNT(groups); i++) {
		v[i] = in_force(&groups[i], p, date);
		if (v[i] == NULL && missing < 0)
			missing = (int)i;
	}
	set->pf = v[0];
	set->franchise = v[1];
	set->fjh = v[2];
	set->fpu = v[3];
	set->optics = v[4];
	set->audio = v[5];
	set->renewal = v[6];
	set->responsible = v[7];
	if (missing >= 0)
		return rules_error_at(err, groups[missing].name, NULL, "no version in force");
	return RULES_OK;
}

/* An age variant is more specific the lower its bound; 0 is "any". */
static int32_t specificity(const struct rules_act *a)
{
	return a->under_age == 0 ? INT32_MAX : a->under_age;
}

const struct rules_act *rules_params_act(const struct rules_params *p, const char *code,
					 rules_date_t date, int age)
{
	const struct rules_act *best = NULL;

	if (code == NULL)
		return NULL;
	for (int i = 0; i < p->n_acts; i++) {
		const struct rules_act *a = &p->acts[i];

		if (a->code[0] != code[0] || strcmp(a->code, code) != 0 || a->since > date)
			continue;
		if (a->under_age != 0 && age >= a->under_age)
			continue;
		if (best == NULL || specificity(a) < specificity(best) ||
		    (specificity(a) == specificity(best) && a->since > best->since))
			best = a;
	}
	return best;
}

/* ---- parsing ----------------------------------------------------------- */

static int read_member(json_t *obj, const struct member *m, const char *path, void *version,
		       struct rules_error *err)
{
	int64_t v;

	if (rules_json_int(obj, m->name, path, m->min, m->max, &v, NULL, err) != RULES_OK)
		return RULES_ERR;
	if (m->kind == K_I64)
		*(int64_t *)(void *)((unsigned char *)version + m->off) = v;
	else
		*(int32_t *)(void *)((unsigned char *)version + m->off) = (int32_t)v;
	return RULES_OK;
}

static const char *const lens_pairs[RULES_LENS_KINDS][RULES_LENS_KINDS] = {
	{"simple+simple", "simple+complex", "simple+very_complex"},
	{NULL, "complex+complex", "complex+very_complex"},
	{NULL, NULL, "very_complex+very_complex"},
};

static int read_ceilings(json_t *obj, const char *path, void *version, struct rules_error *err)
{
	struct rules_optics_params *o = version;
	static const char *const keys[] = {
		"simple+simple",
		"simple+complex",
		"simple+very_complex",
		"complex+complex",
		"complex+very_complex",
		"very_complex+very_complex",
		NULL,
	};
	char sub[64];
	json_t *c = json_object_get(obj, "ceilings_cents");

	snprintf(sub, sizeof sub, "%s.ceilings_cents", path);
	if (c == NULL)
		return rules_error_at(err, path, "ceilings_cents", "missing");
	if (rules_json_object(c, sub, err) != RULES_OK ||
	    rules_json_only(c, keys, sub, err) != RULES_OK)
		return RULES_ERR;
	for (int a = 0; a < RULES_LENS_KINDS; a++) {
		for (int b = a; b < RULES_LENS_KINDS; b++) {
			int64_t v;

			if (rules_json_int(c, lens_pairs[a][b], sub, 0, RULES_MAX_CENTS, &v, NULL,
					   err) != RULES_OK)
				return RULES_ERR;
			o->ceiling_cents[a][b] = v; /* the pair is unordered */
			o->ceiling_cents[b][a] = v;
		}
	}
	return RULES_OK;
}

/* The AMO rates of medicines whose TM a responsible contract need not
 * cover (CSS R871-2: at 30 and 15 %): a list, empty if none, of rates
 * from 1 to 99 (at 100 % there is no TM; at 0, nothing reimbursed). */
static int read_exempt_rates(json_t *obj, const char *path, void *version, struct rules_error *err)
{
	static const char key[] = "pharma_tm_exempt_rates";
	struct rules_responsible_params *r = version;
	json_t *rates = json_object_get(obj, key), *rate;
	size_t i;

	if (rates == NULL)
		return rules_error_at(err, path, key, "missing");
	if (!json_is_array(rates) || json_array_size(rates) > RULES_MAX_EXEMPT_RATES)
		return rules_error_at(err, path, key, "must be an array of at most %d rates",
				      RULES_MAX_EXEMPT_RATES);
	json_array_foreach (rates, i, rate) {
		if (!json_is_integer(rate) || json_integer_value(rate) < 1 ||
		    json_integer_value(rate) > 99)
			return rules_error_at(err, path, key,
					      "rate %zu must be an integer from 1 to 99", i);
		r->pharma_tm_exempt_rates[i] = (int32_t)json_integer_value(rate);
	}
	r->n_pharma_tm_exempt_rates = (int32_t)json_array_size(rates);
	return RULES_OK;
}

static int read_version(json_t *obj, const struct group *g, const char *path, void *version,
			struct rules_error *err)
{
	const char *keys[24];
	size_t n = 0;

	keys[n++] = "since";
	keys[n++] = "source";
	keys[n++] = "note";
	if (g->other != NULL)
		keys[n++] = g->other;
	for (size_t i = 0; i < g->n_members; i++)
		keys[n++] = g->members[i].name;
	keys[n] = NULL;
	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_date(obj, "since", path, (rules_date_t *)version, NULL, err) != RULES_OK)
		return RULES_ERR;
	for (size_t i = 0; i < g->n_members; i++)
		if (read_member(obj, &g->members[i], path, version, err) != RULES_OK)
			return RULES_ERR;
	return g->other != NULL ? g->read_other(obj, path, version, err) : RULES_OK;
}

static int read_array(json_t *root, const char *name, size_t max, json_t **arr,
		      struct rules_error *err)
{
	*arr = json_object_get(root, name);
	if (*arr == NULL)
		return rules_error_at(err, name, NULL, "missing");
	if (!json_is_array(*arr) || json_array_size(*arr) == 0)
		return rules_error_at(err, name, NULL, "must be a non-empty array");
	if (json_array_size(*arr) > max)
		return rules_error_at(err, name, NULL, "more than %zu entries", max);
	return RULES_OK;
}

/* Room for any one version while sorting. */
union any_version {
	struct rules_pf_params pf;
	struct rules_franchise_params franchise;
	struct rules_fjh_params fjh;
	struct rules_fpu_params fpu;
	struct rules_optics_params optics;
	struct rules_audio_params audio;
	struct rules_renewal_params renewal;
	struct rules_responsible_params responsible;
};

/* Insertion sort by since: groups hold a handful of versions. */
static int sort_versions(const struct group *g, struct rules_params *p, struct rules_error *err)
{
	union any_version tmp;
	int n = *count_of(g, p);

	for (int i = 1; i < n; i++) {
		int j = i - 1;

		memcpy(&tmp, version_at(g, p, i), g->size);

		while (j >= 0 && since_of(version_at(g, p, j)) > since_of(&tmp)) {
			memcpy(version_at(g, p, j + 1), version_at(g, p, j), g->size);
			j--;
		}
		memcpy(version_at(g, p, j + 1), &tmp, g->size);
	}
	for (int i = 1; i < n; i++)
		if (since_of(version_at(g, p, i)) == since_of(version_at(g, p, i - 1)))
			return rules_error_at(err, g->name, NULL,
					      "two versions with the same since");
	return RULES_OK;
}

static int read_group(json_t *root, const struct group *g, struct rules_params *p,
		      struct rules_error *err)
{
	json_t *arr, *v;
	size_t i;
	char path[48];

	if (read_array(root, g->name, RULES_MAX_VERSIONS, &arr, err) != RULES_OK)
		return RULES_ERR;
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "%s[%zu]", g->name, i);
		if (read_version(v, g, path, version_at(g, p, (int)i), err) != RULES_OK)
			return RULES_ERR;
	}
	*count_of(g, p) = (int)json_array_size(arr);
	return sort_versions(g, p, err);
}

static int read_act_category(json_t *obj, const char *path, struct rules_act *a,
			     struct rules_error *err)
{
	const char *s;

	if (rules_json_string(obj, "category", path, 64, &s, NULL, err) != RULES_OK)
		return RULES_ERR;
	if (rules_category_parse(s, &a->category) != RULES_OK)
		return rules_error_at(err, path, "category", "unknown category");
	return RULES_OK;
}

static int read_act_optional(json_t *obj, const char *path, struct rules_act *a,
			     struct rules_error *err)
{
	int64_t v = 0;
	bool present;

	if (rules_json_int(obj, "under_age", path, 1, 150, &v, &present, err) != RULES_OK)
		return RULES_ERR;
	a->under_age = present ? (int32_t)v : 0;
	if (rules_json_int(obj, "amo_rate_outside_parcours", path, 0, 100, &v, &present, err) !=
	    RULES_OK)
		return RULES_ERR;
	a->amo_rate_outside_parcours = present ? (int32_t)v : -1;
	if (rules_json_int(obj, "price_limit_cents", path, 0, RULES_MAX_CENTS, &v, &present, err) !=
	    RULES_OK)
		return RULES_ERR;
	a->price_limit_cents = present ? v : -1;
	return RULES_OK;
}

static int read_act(json_t *obj, const char *path, struct rules_act *a, struct rules_error *err)
{
	static const char *const keys[] = {
		"code",
		"category",
		"since",
		"under_age",
		"brss_cents",
		"amo_rate",
		"amo_rate_outside_parcours",
		"price_limit_cents",
		"source",
		"note",
		NULL,
	};
	const char *code;
	int64_t v;

	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_string(obj, "code", path, RULES_ACT_CODE_MAX - 1, &code, NULL, err) !=
		    RULES_OK ||
	    read_act_category(obj, path, a, err) != RULES_OK ||
	    rules_json_date(obj, "since", path, &a->since, NULL, err) != RULES_OK ||
	    rules_json_int(obj, "brss_cents", path, 0, RULES_MAX_CENTS, &a->brss_cents, NULL,
			   err) != RULES_OK ||
	    rules_json_int(obj, "amo_rate", path, 0, 100, &v, NULL, err) != RULES_OK)
		return RULES_ERR;
	a->amo_rate = (int32_t)v;
	snprintf(a->code, sizeof a->code, "%s", code);
	return read_act_optional(obj, path, a, err);
}

static bool same_version(const struct rules_act *a, const struct rules_act *b)
{
	return strcmp(a->code, b->code) == 0 && a->under_age == b->under_age &&
	       a->since == b->since;
}

static int read_acts(json_t *root, struct rules_params *p, struct rules_error *err)
{
	json_t *arr, *v;
	size_t i;
	char path[32];

	if (read_array(root, "acts", RULES_MAX_ACTS, &arr, err) != RULES_OK)
		return RULES_ERR;
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "acts[%zu]", i);
		if (read_act(v, path, &p->acts[i], err) != RULES_OK)
			return RULES_ERR;
		for (size_t j = 0; j < i; j++)
			if (same_version(&p->acts[i], &p->acts[j]))
				return rules_error_at(err, path, NULL,
						      "same code, age and since as acts[%zu]", j);
	}
	p->n_acts = (int)json_array_size(arr);
	return RULES_OK;
}

int rules_params_from_json(json_t *root, struct rules_params *p, struct rules_error *err)
{
	static const char *const keys[] = {
		"format", "note",  "pf",      "franchise",   "fjh",  "fpu",
		"optics", "audio", "renewal", "responsible", "acts", NULL,
	};
	int64_t format;

	memset(p, 0, sizeof *p);
	if (rules_json_object(root, "(params)", err) != RULES_OK ||
	    rules_json_only(root, keys, NULL, err) != RULES_OK ||
	    rules_json_int(root, "format", NULL, 0, INT32_MAX, &format, NULL, err) != RULES_OK)
		return RULES_ERR;
	if (format != FORMAT_VERSION)
		return rules_error_at(err, "format", NULL, "unsupported format %lld (want %d)",
				      (long long)format, FORMAT_VERSION);
	for (size_t i = 0; i < COUNT(groups); i++)
		if (read_group(root, &groups[i], p, err) != RULES_OK)
			return RULES_ERR;
	return read_acts(root, p, err);
}

int rules_params_from_string(const char *text, size_t len, struct rules_params *p,
			     struct rules_error *err)
{
	json_error_t je;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	int rc;

	if (root == NULL)
		return rules_error_at(err, "(json)", NULL, "line %d column %d: %s", je.line,
				      je.column, je.text);
	rc = rules_params_from_json(root, p, err);
	json_decref(root);
	return rc;
}
