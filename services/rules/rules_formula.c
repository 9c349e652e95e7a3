/*
 * NAME
 *	rules_formula.c - contrat responsable validation of a formula
 *
 * SYNOPSIS
 *	int rules_formula_check(const struct rules_contract *c,
 *				const struct rules_params *p, rules_date_t date,
 *				struct rules_formula_issue *out, size_t max,
 *				size_t *n, struct rules_error *err);
 *	int rules_json_formula(json_t *root, struct rules_formula *f,
 *			       struct rules_error *err);
 *
 * DESCRIPTION
 *	A formula (the guarantees sold under one product code) declared
 *	responsible must fit the legal frame of CSS L871-1, R871-1 and
 *	R871-2 (domain reference section 3). The engine already enforces
 *	the frame when it computes a line; this check refuses a formula
 *	whose text promises more or less than the frame allows, before it
 *	is sold:
 *	  - the ticket modérateur must be covered: a pct_brss (or a
 *	    non-OPTAM pct) below 100 % where the AMO reimburses;
 *	  - non-OPTAM doctors: cover at most 200 % BRSS and 20 points below
 *	    the OPTAM cover; frais réels, forfaits and envelopes on doctors'
 *	    fees break these limits or pay the majoration outside the
 *	    parcours de soins, which must stay with the patient;
 *	  - optics class B: AMO+AMC per equipment at most the ceiling of
 *	    the lens pair (the lowest, two simple lenses, since the v1
 *	    guarantee does not depend on the lenses);
 *	  - hearing aids class II: at most the ceiling per ear (a percentage
 *	    of the BRSS only by its envelope: the BRSS is not known here);
 *	  - a renewal period of the formula's own (renewal_months) no
 *	    shorter than the legal one: glasses 2 years (the legal period
 *	    from 16; the formula's period replaces the legal one at every
 *	    age, as the engine applies it, and the law's 1 year is for
 *	    children under 16 only), hearing aids 4 years;
 *	  - the forfait journalier: covered in full with no limit of days.
 *	A category the formula leaves out is not an issue: the engine pays
 *	the ticket modérateur and the forfait journalier of a responsible
 *	contract by law.
 *
 * DIAGNOSTICS
 *	Each issue names its category and says what breaks the frame, in
 *	one line, e.g. "CONSULT_SPEC: non-OPTAM cover 150 % BRSS is not 20
 *	points below the OPTAM cover 150 %".
 */
#include "rules/rules_internal.h"
#include "rules/rules_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct issues {
	struct rules_formula_issue *out;
	size_t max;
	size_t n;
};

__attribute__((format(printf, 3, 4))) static void issue(struct issues *is, int cat, const char *fmt,
							...)
{
	va_list ap;

	if (is->n < is->max) {
		is->out[is->n].category = cat;
		va_start(ap, fmt);
		vsnprintf(is->out[is->n].reason, RULES_REASON_MAX, fmt, ap);
		va_end(ap);
	}
	is->n++;
}

/* Categories whose acts the AMO reimburses, so whose TM must be covered
 * (the AMO pays no FJH, room, alternative medicine or urgences forfait). */
static bool tm_category(int cat)
{
	return cat != RULES_CAT_HOSP_FJH && cat != RULES_CAT_HOSP_CHAMBRE &&
	       cat != RULES_CAT_MEDECINE_DOUCE && cat != RULES_CAT_URGENCES_FPU;
}

static bool parcours_category(int cat)
{
	return cat == RULES_CAT_CONSULT_GP || cat == RULES_CAT_CONSULT_SPEC;
}

static int32_t non_optam_pct(const struct rules_guarantee *g)
{
	return (g->has & RULES_G_NON_OPTAM) ? g->non_optam_pct_brss : g->pct_brss;
}

static void check_tm(const struct rules_guarantee *g, int cat, struct issues *is)
{
	if (!tm_category(cat) || g->form != RULES_FORM_PCT)
		return;
	if (g->pct_brss < 100)
		issue(is, cat,
		      "pct_brss %d %% is below 100 %% BRSS: the ticket modérateur "
		      "must be covered",
		      g->pct_brss);
	else if (rules_doctor_category(cat) && non_optam_pct(g) < 100)
		issue(is, cat,
		      "non-OPTAM cover %d %% is below 100 %% BRSS: the ticket "
		      "modérateur must be covered",
		      non_optam_pct(g));
}

static void check_non_optam_pct(const struct rules_guarantee *g, int cat,
				const struct rules_responsible_params *rp, struct issues *is)
{
	int32_t p = non_optam_pct(g);
	const char *implied = (g->has & RULES_G_NON_OPTAM) ? ""
							   : " (no non_optam_pct_brss: "
							     "it defaults to pct_brss)";

	/* Up to 100 % no dépassement is covered: nothing to limit. */
	if (p <= 100)
		return;
	if (p > rp->non_optam_max_pct)
		issue(is, cat, "non-OPTAM cover %d %% BRSS is above %d %%%s", p,
		      rp->non_optam_max_pct, implied);
	if (p > g->pct_brss - rp->non_optam_gap_points)
		issue(is, cat,
		      "non-OPTAM cover %d %% BRSS is not %d points below the OPTAM "
		      "cover %d %%%s",
		      p, rp->non_optam_gap_points, g->pct_brss, implied);
}

static void check_doctor(const struct rules_guarantee *g, int cat,
			 const struct rules_responsible_params *rp, struct issues *is)
{
	if (!rules_doctor_category(cat))
		return;
	switch (g->form) {
	case RULES_FORM_PCT:
		check_non_optam_pct(g, cat, rp, is);
		break;
	case RULES_FORM_FRAIS_REELS:
		/* The engine would pay non-OPTAM fees up to the limit only;
		 * what a responsible formula may not do is promise them, nor
		 * cover them as it covers OPTAM ones. */
		issue(is, cat,
		      "frais_reels promises non-OPTAM dépassements as OPTAM ones (not %d points"
		      " below) and beyond %d %% BRSS%s",
		      rp->non_optam_gap_points, rp->non_optam_max_pct,
		      parcours_category(cat) ? ", and the majoration outside the parcours" : "");
		break;
	case RULES_FORM_PER_ACT:
	case RULES_FORM_EQUIPMENT:
		issue(is, cat,
		      "a forfait on doctors' fees is not bounded by the non-OPTAM "
		      "limits%s: use pct_brss",
		      parcours_category(cat) ? " nor kept off the majoration outside the parcours"
					     : "");
		break;
	case RULES_FORM_NONE:
		break;
	}
	if (g->has & RULES_G_ANNUAL)
		issue(is, cat,
		      "annual_cents on doctors' fees is not bounded by the non-OPTAM "
		      "limits");
}

/* What the formula promises at most for one equipment, AMO+AMC; -1 when
 * nothing bounds it. The AMO share of class B optics (a few cents) is
 * left out: the ceiling then bites only on what the formula promises. */
static int64_t equipment_promise(const struct rules_guarantee *g)
{
	int64_t v = 0;

	switch (g->form) {
	case RULES_FORM_FRAIS_REELS:
		return -1;
	case RULES_FORM_EQUIPMENT:
		v = g->equipment_cents;
		break;
	case RULES_FORM_PER_ACT:
		v = g->per_act_cents;
		break;
	case RULES_FORM_PCT:
	case RULES_FORM_NONE:
		break;
	}
	if (g->has & RULES_G_ANNUAL)
		v += g->annual_cents;
	return v;
}

static void euros(int64_t cents, char buf[32])
{
	snprintf(buf, 32, "%lld.%02lld €", (long long)(cents / 100), (long long)(cents % 100));
}

static void check_ceiling(const struct rules_guarantee *g, int cat, int64_t ceiling,
			  const char *what, struct issues *is)
{
	int64_t v = equipment_promise(g);
	char a[32], b[32];

	euros(ceiling, b);
	if (v < 0) {
		issue(is, cat, "frais_reels exceeds the %s ceiling of %s", what, b);
	} else if (v > ceiling) {
		euros(v, a);
		issue(is, cat, "promises up to %s per equipment, above the %s ceiling of %s", a,
		      what, b);
	}
}

/* A percentage of the BRSS on a hearing aid cannot be weighed against
 * the ceiling: neither the domain reference nor the parameters give the
 * BRSS of a hearing aid (the act table has none), and the engine caps
 * AMO+AMC at the ceiling per line anyway (AUDIO_CEILING). What is known
 * is that the AMO reimburses hearing aids, so their BRSS is above 0, and
 * that a responsible contract pays at least 100 % of it (the percentage
 * raised to 100 %, or the TM without a form): an envelope that alone
 * reaches the ceiling promises more than it once the BRSS comes on top.
 * check_ceiling() already refuses an envelope above it. */
static void check_audio_envelope(const struct rules_guarantee *g, int cat, int64_t ceiling,
				 struct issues *is)
{
	char a[32], b[32];

	if ((g->form != RULES_FORM_PCT && g->form != RULES_FORM_NONE) ||
	    !(g->has & RULES_G_ANNUAL) || g->annual_cents != ceiling)
		return;
	euros(g->annual_cents, a);
	euros(ceiling, b);
	issue(is, cat,
	      "annual_cents %s plus at least 100 %% of the BRSS is above the class II (per "
	      "ear) ceiling of %s",
	      a, b);
}

static void check_equipment(const struct rules_guarantee *g, int cat,
			    const struct rules_param_set *set, struct issues *is)
{
	int64_t lowest = INT64_MAX;

	if (cat == RULES_CAT_OPTIQUE_EQUIPEMENT) {
		for (int a = 0; a < RULES_LENS_KINDS; a++)
			for (int b = 0; b < RULES_LENS_KINDS; b++)
				lowest = rules_min(lowest, set->optics->ceiling_cents[a][b]);
		check_ceiling(g, cat, lowest, "class B (two simple lenses)", is);
	} else if (cat == RULES_CAT_AUDIO) {
		check_ceiling(g, cat, set->audio->class2_ceiling_cents, "class II (per ear)", is);
		check_audio_envelope(g, cat, set->audio->class2_ceiling_cents, is);
	}
}

/* The FJH is owed in full, so any cap on it limits what the law requires.
 * An annual cap where only the TM is owed is no issue: the TM floor comes
 * after the caps (domain reference section 5, step 8), so such a cap only
 * limits the cover above the TM, as the reference's own contracts do. */
static void check_fjh(const struct rules_guarantee *g, const struct rules_param_set *set,
		      struct issues *is)
{
	int cat = RULES_CAT_HOSP_FJH;
	char day[32];

	euros(set->fjh->per_day_cents, day);
	if (g->form == RULES_FORM_PCT || g->form == RULES_FORM_EQUIPMENT)
		issue(is, cat,
		      "the forfait journalier has no BRSS: it must be covered in full "
		      "(frais_reels)");
	if (g->form == RULES_FORM_PER_ACT && g->per_act_cents < set->fjh->per_day_cents)
		issue(is, cat, "per_act_cents does not cover the forfait journalier of %s a day",
		      day);
	if (g->has & RULES_G_MAX_ACTS)
		issue(is, cat,
		      "max_acts_per_year limits the days covered; the forfait "
		      "journalier must be covered with no limit of days");
	if (g->has & RULES_G_ANNUAL_CAP)
		issue(is, cat,
		      "annual_cap_cents limits the forfait journalier, which must be "
		      "covered in full");
}

/* A period of the formula's own that pays a new equipment sooner than the
 * law lets a responsible contract (domain reference section 3). */
static void check_renewal(const struct rules_guarantee *g, int cat,
			  const struct rules_param_set *set, struct issues *is)
{
	const struct rules_renewal_params *rn = set->renewal;

	if (!(g->has & RULES_G_RENEWAL) || rn == NULL)
		return;
	if (cat == RULES_CAT_AUDIO && g->renewal_months < rn->audio_months)
		issue(is, cat,
		      "renewal_months %d pays a hearing aid sooner than the legal renewal of %d "
		      "months",
		      g->renewal_months, rn->audio_months);
	if (cat == RULES_CAT_OPTIQUE_EQUIPEMENT && g->renewal_months < rn->glasses_months)
		issue(is, cat,
		      "renewal_months %d pays glasses sooner than the legal renewal of %d months "
		      "(%d under %d)",
		      g->renewal_months, rn->glasses_months, rn->glasses_child_months,
		      rn->glasses_child_under_age);
}

static void check_contract(const struct rules_contract *c, const struct rules_param_set *set,
			   struct issues *is)
{
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++) {
		const struct rules_guarantee *g = &c->g[cat];

		if (g->form == RULES_FORM_NONE && !(g->has & RULES_G_ANNUAL))
			continue;
		check_tm(g, cat, is);
		check_doctor(g, cat, set->responsible, is);
		check_equipment(g, cat, set, is);
		check_renewal(g, cat, set, is);
		if (cat == RULES_CAT_HOSP_FJH)
			check_fjh(g, set, is);
	}
}

int rules_formula_check(const struct rules_contract *c, const struct rules_params *p,
			rules_date_t date, struct rules_formula_issue *out, size_t max, size_t *n,
			struct rules_error *err)
{
	struct issues is = {out, max, 0};
	struct rules_param_set set;
	struct rules_error ignored;
	char day[11];

	*n = 0;
	if (!c->responsible)
		return RULES_OK;
	/* Only the groups of the legal frame matter here, not PF or tariffs:
	 * the missing group that rules_params_at() reports may be another. */
	if (rules_params_at(p, date, &set, &ignored) != RULES_OK)
		ignored.field[0] = '\0';
	rules_date_format(date, day);
	if (set.responsible == NULL || set.optics == NULL || set.audio == NULL || set.fjh == NULL)
		return rules_error_at(err, "effective_from", NULL,
				      "the parameters of the contrat responsable frame are not "
				      "in force on %s",
				      day);
	check_contract(c, &set, &is);
	*n = is.n;
	return RULES_OK;
}

/* ---- the formula document ----------------------------------------------------- */

static int read_guarantees(json_t *obj, const char *path, bool responsible,
			   struct rules_contract *c, struct rules_error *err)
{
	json_t *g = json_object_get(obj, "guarantees");

	rules_contract_init(c, responsible);
	if (g == NULL)
		return rules_error_at(err, path, "guarantees", "missing");
	return rules_json_guarantees(g, c, path != NULL ? path : "guarantees", err);
}

static int read_dates(json_t *obj, const char *path, struct rules_formula_version *v,
		      struct rules_error *err)
{
	if (rules_json_date(obj, "effective_from", path, &v->effective_from, &v->has_from, err) !=
	    RULES_OK)
		return RULES_ERR;
	/* null is the database's NULL: still in force (claimctl seed takes it
	 * too). A version always starts somewhere: effective_from has no null. */
	if (json_is_null(json_object_get(obj, "effective_to")))
		v->has_to = false;
	else if (rules_json_date(obj, "effective_to", path, &v->effective_to, &v->has_to, err) !=
		 RULES_OK)
		return RULES_ERR;
	if (v->has_to && (!v->has_from || v->effective_to <= v->effective_from))
		return rules_error_at(err, path, "effective_to", "must follow effective_from");
	return RULES_OK;
}

static int read_version(json_t *obj, const char *path, bool responsible,
			struct rules_formula_version *v, struct rules_error *err)
{
	static const char *const keys[] = {"version", "effective_from", "effective_to",
					   "guarantees", NULL};
	int64_t n;
	char sub[64];

	snprintf(sub, sizeof sub, "%s.guarantees", path);
	if (rules_json_object(obj, path, err) != RULES_OK ||
	    rules_json_only(obj, keys, path, err) != RULES_OK ||
	    rules_json_int(obj, "version", path, 1, INT32_MAX, &n, NULL, err) != RULES_OK ||
	    rules_json_date(obj, "effective_from", path, &v->effective_from, NULL, err) != RULES_OK)
		return RULES_ERR;
	v->version = (int32_t)n;
	if (read_dates(obj, path, v, err) != RULES_OK)
		return RULES_ERR;
	rules_contract_init(&v->contract, responsible);
	return rules_json_guarantees(json_object_get(obj, "guarantees") != NULL
					     ? json_object_get(obj, "guarantees")
					     : json_null(),
				     &v->contract, sub, err);
}

/* Whether two versions are in force on a common day: each holds over
 * [effective_from, effective_to), open-ended without effective_to. The
 * first such day goes in *day. */
static bool overlap(const struct rules_formula_version *a, const struct rules_formula_version *b,
		    rules_date_t *day)
{
	if ((a->has_to && a->effective_to <= b->effective_from) ||
	    (b->has_to && b->effective_to <= a->effective_from))
		return false;
	*day = a->effective_from > b->effective_from ? a->effective_from : b->effective_from;
	return true;
}

/* The versions of a formula as the database takes them (migration 017):
 * a number once, and never two in force on the same day, or a claim's
 * care date would have two guarantees. Neither numbers rising with the
 * dates nor versions without gaps are required: a later version may fill
 * an earlier gap, as the database allows. */
static int read_versions(json_t *arr, bool responsible, struct rules_formula *f,
			 struct rules_error *err)
{
	json_t *v;
	size_t i;
	char path[32], day[11];
	rules_date_t common;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return rules_error_at(err, "versions", NULL, "must be a non-empty array");
	if (json_array_size(arr) > RULES_FORMULA_MAX_VERSIONS)
		return rules_error_at(err, "versions", NULL, "more than %d versions",
				      RULES_FORMULA_MAX_VERSIONS);
	json_array_foreach (arr, i, v) {
		snprintf(path, sizeof path, "versions[%zu]", i);
		if (read_version(v, path, responsible, &f->v[i], err) != RULES_OK)
			return RULES_ERR;
		for (size_t j = 0; j < i; j++)
			if (f->v[j].version == f->v[i].version)
				return rules_error_at(err, path, "version", "same as versions[%zu]",
						      j);
		for (size_t j = 0; j < i; j++) {
			if (!overlap(&f->v[j], &f->v[i], &common))
				continue;
			rules_date_format(common, day);
			return rules_error_at(err, path, NULL,
					      "overlaps versions[%zu] (both in force on %s)", j,
					      day);
		}
	}
	f->n_versions = json_array_size(arr);
	return RULES_OK;
}

int rules_json_formula(json_t *root, struct rules_formula *f, struct rules_error *err)
{
	static const char *const keys[] = {
		"code", "label", "responsible", "effective_from", "guarantees", "versions", NULL};
	const char *code = "", *label;
	bool responsible = true, present;
	json_t *versions;

	memset(f, 0, sizeof *f);
	if (rules_json_object(root, "(formula)", err) != RULES_OK ||
	    rules_json_only(root, keys, NULL, err) != RULES_OK ||
	    rules_json_string(root, "code", NULL, RULES_FORMULA_CODE_MAX - 1, &code, &present,
			      err) != RULES_OK ||
	    rules_json_string(root, "label", NULL, 500, &label, &present, err) != RULES_OK ||
	    rules_json_bool(root, "responsible", NULL, &responsible, &present, err) != RULES_OK)
		return RULES_ERR;
	snprintf(f->code, sizeof f->code, "%s", code);
	versions = json_object_get(root, "versions");
	if (versions == NULL) {
		f->n_versions = 1;
		if (read_dates(root, NULL, &f->v[0], err) != RULES_OK)
			return RULES_ERR;
		return read_guarantees(root, NULL, responsible, &f->v[0].contract, err);
	}
	if (json_object_get(root, "guarantees") != NULL ||
	    json_object_get(root, "effective_from") != NULL)
		return rules_error_at(err, "versions", NULL,
				      "give either versions or guarantees, not both");
	return read_versions(versions, responsible, f, err);
}
