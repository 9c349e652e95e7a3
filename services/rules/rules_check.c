/*
 * NAME
 *	rules_check.c - validation of a request built from C structs
 *
 * SYNOPSIS
 *	rules_contract_init(), rules_line_init(), rules_history_init()
 *	rules_request_check(), rules_line_check(), rules_guarantee_check()
 *
 * DESCRIPTION
 *	The reimbursement daemon builds requests from protobuf claims and
 *	PostgreSQL rows, the simulate command from JSON: both meet the same
 *	checks here, so that the engine never computes on a value it was
 *	not designed for (a negative amount, a rate above 100 %, a 100PS
 *	line without its price limit, glasses without their lenses...).
 *	Nothing is guessed: a request that is not exactly right is refused.
 *	The bounds of rules.h also keep every product of the rules within
 *	int64.
 *
 * DIAGNOSTICS
 *	The first fault found, by JSON path of the simulate request:
 *	"beneficiary.birth_date", "contract.guarantees.AUDIO.renewal_months",
 *	"history[3].amc_cents", "lines[0].lenses", and a reason.
 */
#include "rules/rules_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void rules_contract_init(struct rules_contract *c, bool responsible)
{
	memset(c, 0, sizeof *c);
	c->responsible = responsible;
}

void rules_line_init(struct rules_line *l)
{
	memset(l, 0, sizeof *l);
	l->quantity = 1;
	l->optam = true;
	l->parcours = true;
}

void rules_history_init(struct rules_history_item *h)
{
	memset(h, 0, sizeof *h);
	h->quantity = 1;
}

bool rules_history_equipment_default(enum rules_category cat, int64_t amc_cents)
{
	return (cat == RULES_CAT_OPTIQUE_EQUIPEMENT || cat == RULES_CAT_AUDIO) && amc_cents > 0;
}

/* Where a fault lies: "prefix" or "prefix[index]". The path is only
 * formatted on failure, to keep the check cheap on the hot path. */
struct where {
	const char *prefix;
	size_t index;
	bool indexed;
};

__attribute__((format(printf, 4, 5))) static int fail(struct rules_error *err,
						      const struct where *w, const char *member,
						      const char *fmt, ...)
{
	char path[48];
	va_list ap;

	if (w->indexed)
		snprintf(path, sizeof path, "%s[%zu]", w->prefix, w->index);
	else
		snprintf(path, sizeof path, "%s", w->prefix != NULL ? w->prefix : "");
	va_start(ap, fmt);
	rules_verror_at(err, w->prefix != NULL ? path : NULL, member, fmt, ap);
	va_end(ap);
	if (err != NULL && w->indexed && strcmp(w->prefix, "lines") == 0)
		err->line = (int)w->index;
	return RULES_ERR;
}

static int check_range(int64_t v, int64_t max, const struct where *w, const char *member,
		       struct rules_error *err)
{
	if (v < 0)
		return fail(err, w, member, "must not be negative");
	if (v > max)
		return fail(err, w, member, "must be at most %lld", (long long)max);
	return RULES_OK;
}

static int check_quantity(int64_t v, const struct where *w, struct rules_error *err)
{
	if (v < 1 || v > RULES_MAX_QUANTITY)
		return fail(err, w, "quantity", "must be between 1 and %d", RULES_MAX_QUANTITY);
	return RULES_OK;
}

/* A member set in `has` that the guarantee's form does not use. */
static int check_form_members(enum rules_category cat, const struct rules_guarantee *g,
			      const struct where *w, struct rules_error *err)
{
	if ((g->has & RULES_G_NON_OPTAM) && g->form != RULES_FORM_PCT)
		return fail(err, w, "non_optam_pct_brss", "only goes with pct_brss");
	/* Elsewhere the engine never reads it: accepted, it would look like
	 * a promise the formula does not keep. */
	if ((g->has & RULES_G_NON_OPTAM) && !rules_doctor_category(cat))
		return fail(err, w, "non_optam_pct_brss",
			    "only applies to doctors' fees (CONSULT_GP, CONSULT_SPEC, "
			    "HOSP_HONORAIRES, RADIOLOGIE)");
	if ((g->has & RULES_G_MAX_ACTS) && g->form != RULES_FORM_PER_ACT)
		return fail(err, w, "max_acts_per_year", "only goes with per_act_cents");
	/* The envelope left is annual_cents less the year's forfaits, and a
	 * history item gives one forfait_cents: per-act forfaits would eat
	 * the envelope across lines but not within one, so the AMC would
	 * depend on how the acts are split into lines. */
	if ((g->has & RULES_G_ANNUAL) && g->form == RULES_FORM_PER_ACT)
		return fail(err, w, "annual_cents",
			    "does not go with per_act_cents: the history cannot tell the "
			    "envelope's use from per-act forfaits");
	if ((g->has & RULES_G_RENEWAL) && cat != RULES_CAT_OPTIQUE_EQUIPEMENT &&
	    cat != RULES_CAT_AUDIO)
		return fail(err, w, "renewal_months",
			    "only applies to OPTIQUE_EQUIPEMENT and AUDIO");
	return RULES_OK;
}

static int check_form_values(const struct rules_guarantee *g, const struct where *w,
			     struct rules_error *err)
{
	switch (g->form) {
	case RULES_FORM_NONE:
	case RULES_FORM_FRAIS_REELS:
		return RULES_OK;
	case RULES_FORM_PCT:
		if (check_range(g->pct_brss, RULES_MAX_PCT, w, "pct_brss", err) != RULES_OK)
			return RULES_ERR;
		if (!(g->has & RULES_G_NON_OPTAM))
			return RULES_OK;
		return check_range(g->non_optam_pct_brss, RULES_MAX_PCT, w, "non_optam_pct_brss",
				   err);
	case RULES_FORM_PER_ACT:
		if (check_range(g->per_act_cents, RULES_MAX_CENTS, w, "per_act_cents", err) !=
		    RULES_OK)
			return RULES_ERR;
		if ((g->has & RULES_G_MAX_ACTS) &&
		    (g->max_acts_per_year < 1 || g->max_acts_per_year > RULES_MAX_QUANTITY))
			return fail(err, w, "max_acts_per_year", "must be between 1 and %d",
				    RULES_MAX_QUANTITY);
		return RULES_OK;
	case RULES_FORM_EQUIPMENT:
		return check_range(g->equipment_cents, RULES_MAX_CENTS, w, "equipment_cents", err);
	}
	return fail(err, w, NULL, "unknown guarantee form");
}

int rules_guarantee_check(enum rules_category cat, const struct rules_guarantee *g,
			  const char *path, struct rules_error *err)
{
	struct where w = {path, 0, false};

	if ((unsigned)cat >= RULES_CAT_COUNT)
		return fail(err, &w, NULL, "unknown category");
	if (check_form_members(cat, g, &w, err) != RULES_OK ||
	    check_form_values(g, &w, err) != RULES_OK)
		return RULES_ERR;
	if ((g->has & RULES_G_RENEWAL) &&
	    (g->renewal_months < 1 || g->renewal_months > RULES_MAX_RENEWAL_MONTHS))
		return fail(err, &w, "renewal_months", "must be between 1 and %d",
			    RULES_MAX_RENEWAL_MONTHS);
	if ((g->has & RULES_G_ANNUAL) &&
	    check_range(g->annual_cents, RULES_MAX_CENTS, &w, "annual_cents", err) != RULES_OK)
		return RULES_ERR;
	if ((g->has & RULES_G_ANNUAL_CAP) && check_range(g->annual_cap_cents, RULES_MAX_CENTS, &w,
							 "annual_cap_cents", err) != RULES_OK)
		return RULES_ERR;
	return RULES_OK;
}

static int check_contract(const struct rules_contract *c, struct rules_error *err)
{
	struct rules_error e;
	char path[64];

	if (c == NULL)
		return rules_error_at(err, "contract", NULL, "missing");
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++) {
		if (rules_guarantee_check((enum rules_category)cat, &c->g[cat], NULL, &e) ==
		    RULES_OK)
			continue;
		snprintf(path, sizeof path, "contract.guarantees.%s", rules_category_name(cat));
		return rules_error_at(err, path, e.field[0] != '\0' ? e.field : NULL, "%s",
				      e.reason);
	}
	return RULES_OK;
}

static int check_history_item(const struct rules_history_item *h, size_t i, struct rules_error *err)
{
	struct where w = {"history", i, true};

	if (!rules_date_valid(h->date))
		return fail(err, &w, "date", "not a valid date");
	if ((unsigned)h->category >= RULES_CAT_COUNT)
		return fail(err, &w, "category", "unknown category");
	if ((unsigned)h->scope > RULES_HISTORY_EQUIPMENT)
		return fail(err, &w, "scope", "unknown scope");
	if (check_range(h->pf_cents, RULES_MAX_CENTS, &w, "pf_cents", err) != RULES_OK ||
	    check_range(h->franchise_cents, RULES_MAX_CENTS, &w, "franchise_cents", err) !=
		    RULES_OK ||
	    check_range(h->amc_cents, RULES_MAX_CENTS, &w, "amc_cents", err) != RULES_OK ||
	    check_range(h->forfait_cents, RULES_MAX_CENTS, &w, "forfait_cents", err) != RULES_OK)
		return RULES_ERR;
	return check_quantity(h->quantity, &w, err);
}

static bool basket_category(enum rules_category cat, enum rules_basket b)
{
	if (b == RULES_BASKET_NONE || cat == RULES_CAT_DENT_PROTHESE)
		return true;
	/* Optics and hearing aids have 100 % Santé (class A / class I) and
	 * free-price (class B / class II) offers, no "maîtrisé" one. */
	return (cat == RULES_CAT_OPTIQUE_EQUIPEMENT || cat == RULES_CAT_AUDIO) &&
	       b != RULES_BASKET_MAITRISE;
}

static int check_basket(const struct rules_line *l, const struct where *w, struct rules_error *err)
{
	if ((unsigned)l->basket > RULES_BASKET_LIBRE)
		return fail(err, w, "basket", "unknown basket");
	if (!basket_category(l->category, l->basket))
		return fail(err, w, "basket", "%s does not apply to %s",
			    rules_basket_name(l->basket), rules_category_name(l->category));
	if (l->given & RULES_GIVEN_PRICE_LIMIT) {
		if (l->basket == RULES_BASKET_NONE)
			return fail(err, w, "price_limit_cents", "only goes with a basket");
		return check_range(l->price_limit_cents, RULES_MAX_CENTS, w, "price_limit_cents",
				   err);
	}
	/* With an act code the price limit may come from the act table. */
	if (l->basket == RULES_BASKET_100PS && l->act == NULL)
		return fail(err, w, "price_limit_cents", "required with basket 100PS");
	return RULES_OK;
}

static int check_optics(const struct rules_line *l, const struct where *w, struct rules_error *err)
{
	bool glasses = l->category == RULES_CAT_OPTIQUE_EQUIPEMENT;
	bool any = l->lenses[0] != RULES_LENS_NONE || l->lenses[1] != RULES_LENS_NONE;

	if ((unsigned)l->lenses[0] > RULES_LENS_VERY_COMPLEX ||
	    (unsigned)l->lenses[1] > RULES_LENS_VERY_COMPLEX)
		return fail(err, w, "lenses", "unknown lens type");
	if (any && !glasses)
		return fail(err, w, "lenses", "only for OPTIQUE_EQUIPEMENT");
	if (any && (l->lenses[0] == RULES_LENS_NONE || l->lenses[1] == RULES_LENS_NONE))
		return fail(err, w, "lenses", "must name two lenses");
	/* Class B glasses: the legal ceiling depends on the lens pair. */
	if (glasses && !any && l->basket != RULES_BASKET_100PS)
		return fail(err, w, "lenses", "required for glasses outside basket 100PS");
	if (l->frame_charged_cents != 0 && !glasses)
		return fail(err, w, "frame_charged_cents", "only for OPTIQUE_EQUIPEMENT");
	if (check_range(l->frame_charged_cents, RULES_MAX_CENTS, w, "frame_charged_cents", err) !=
	    RULES_OK)
		return RULES_ERR;
	if (l->frame_charged_cents > l->charged_cents)
		return fail(err, w, "frame_charged_cents", "exceeds charged_cents");
	return RULES_OK;
}

static int check_amounts(const struct rules_line *l, const struct where *w, struct rules_error *err)
{
	if (check_range(l->charged_cents, RULES_MAX_CENTS, w, "charged_cents", err) != RULES_OK ||
	    check_range(l->brss_cents, RULES_MAX_CENTS, w, "brss_cents", err) != RULES_OK)
		return RULES_ERR;
	if (l->amo_rate < 0 || l->amo_rate > 100)
		return fail(err, w, "amo_rate", "must be between 0 and 100");
	return check_quantity(l->quantity, w, err);
}

int rules_line_check(const struct rules_line *l, size_t i, rules_date_t birth,
		     struct rules_error *err)
{
	struct where w = {"lines", i, true};

	if (!rules_date_valid(l->date))
		return fail(err, &w, "date", "not a valid date");
	if (l->date < birth)
		return fail(err, &w, "date", "before beneficiary.birth_date");
	if ((unsigned)l->category >= RULES_CAT_COUNT)
		return fail(err, &w, "category", "unknown category");
	if (l->act != NULL && (l->act[0] == '\0' || strlen(l->act) >= RULES_ACT_CODE_MAX))
		return fail(err, &w, "act", "must be 1 to %d characters", RULES_ACT_CODE_MAX - 1);
	if (check_amounts(l, &w, err) != RULES_OK || check_basket(l, &w, err) != RULES_OK)
		return RULES_ERR;
	return check_optics(l, &w, err);
}

static int check_beneficiary(const struct rules_beneficiary *b, struct rules_error *err)
{
	if (!rules_date_valid(b->birth_date))
		return rules_error_at(err, "beneficiary", "birth_date", "not a valid date");
	if (b->exempt & ~(RULES_EXEMPT_C2S | RULES_EXEMPT_MATERNITY))
		return rules_error_at(err, "beneficiary", "exempt", "unknown exemption");
	return RULES_OK;
}

int rules_request_check(const struct rules_request *req, struct rules_error *err)
{
	if (check_beneficiary(&req->beneficiary, err) != RULES_OK ||
	    check_contract(req->contract, err) != RULES_OK)
		return RULES_ERR;
	if (req->n_history > RULES_MAX_HISTORY)
		return rules_error_at(err, "history", NULL, "more than %d items",
				      RULES_MAX_HISTORY);
	if (req->n_history > 0 && req->history == NULL)
		return rules_error_at(err, "history", NULL, "missing");
	for (size_t i = 0; i < req->n_history; i++)
		if (check_history_item(&req->history[i], i, err) != RULES_OK)
			return RULES_ERR;
	if (req->n_lines == 0 || req->lines == NULL)
		return rules_error_at(err, "lines", NULL, "must hold at least one line");
	if (req->n_lines > RULES_MAX_LINES)
		return rules_error_at(err, "lines", NULL, "more than %d lines", RULES_MAX_LINES);
	for (size_t i = 0; i < req->n_lines; i++)
		if (rules_line_check(&req->lines[i], i, req->beneficiary.birth_date, err) !=
		    RULES_OK)
			return RULES_ERR;
	return RULES_OK;
}
