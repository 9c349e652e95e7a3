/*
 * NAME
 *	test_rules_properties.c - properties of the engine on random requests
 *
 * DESCRIPTION
 *	A seeded generator (splitmix64, its state passed explicitly: the
 *	same requests on every run and machine) builds a few thousand
 *	random but valid requests: random formulas (every guarantee form,
 *	envelopes, caps, responsible or not), beneficiaries of every age,
 *	exemptions, histories, lines across three calendar years sharing
 *	days, act codes, baskets, glasses. On each it checks what must hold
 *	whatever the figures:
 *	  - charged = amo_paid + amc + rac on every line, and the totals;
 *	  - 0 <= amc <= charged - amo_gross, so the PF and franchises
 *	    always stay with the patient (rac >= pf + franchise);
 *	  - 0 <= forfait <= amc;
 *	  - PF: at most 2 euros an act, 8 a day, 50 a calendar year, and
 *	    franchises 50 a year (4 a day for auxiliaries, 8 for
 *	    transport), the history included;
 *	  - the annual cap of a category is never passed by a line that no
 *	    legal floor (TM_FLOOR, FJH_FULL, 100PS) raised; an envelope is
 *	    never paid beyond what is left of it; a per-act forfait never
 *	    pays more acts than are left;
 *	  - on a responsible contract: at least the mandatory TM (within the
 *	    room), the FJH in full, 100PS baskets at their price limit,
 *	    optics within the class B ceiling and frame cap, non-OPTAM
 *	    doctors within 200 % BRSS;
 *	  - a renewal not due pays nothing, and is named exactly when a
 *	    scan of every equipment (history items, earlier lines the AMC
 *	    paid) finds one dated on or before the line and less than the
 *	    renewal period before it;
 *	  - a daily or annual cap of PF or franchise is named only when it
 *	    cut the amount the line would otherwise bear;
 *	  - computing the lines one by one, each joining the history of the
 *	    next as a history item, gives exactly the batch result (the
 *	    engine's accumulators agree with the definition);
 *	  - the history given in parts (a year's sums per category, the rows
 *	    of the request's days, the equipments: what the reimbursement
 *	    workers read from PostgreSQL) gives exactly the result of the
 *	    history given row by row;
 *	  - the same request gives the same result twice.
 *	Runs from the repository root; well under a second.
 */
#include <stdlib.h>

#include "rules/rules_json.h"
#include "common/params.h"
#include "test.h"

#define REQUESTS  4000
#define MAX_LINES 15
#define MAX_HIST  60

static struct rules_params params;

struct rng {
	uint64_t s;
};

static uint64_t next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* lo..hi inclusive */
static int64_t range(struct rng *r, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next(r) % (uint64_t)(hi - lo + 1));
}

static int64_t imax(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

static int64_t imin(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

static bool chance(struct rng *r, int pct)
{
	return range(r, 0, 99) < pct;
}

struct gen {
	struct rules_contract contract;
	struct rules_line lines[MAX_LINES];
	struct rules_history_item hist[MAX_HIST + MAX_LINES];
	struct rules_request req;
	char ids[MAX_LINES][16];
};

/* ---- the generator ------------------------------------------------------------ */

static void gen_form(struct rng *r, struct rules_guarantee *g)
{
	static const int pcts[] = {0, 50, 90, 100, 100, 125, 150, 200, 250, 300, 400};
	static const int non_optam[] = {0, 80, 100, 130, 150, 180, 200, 300};
	int k = (int)range(r, 0, 99);

	if (k < 40) {
		g->form = RULES_FORM_PCT;
		g->pct_brss = pcts[range(r, 0, 10)];
		if (chance(r, 40)) {
			g->has |= RULES_G_NON_OPTAM;
			g->non_optam_pct_brss = non_optam[range(r, 0, 7)];
		}
	} else if (k < 55) {
		g->form = RULES_FORM_FRAIS_REELS;
	} else if (k < 75) {
		g->form = RULES_FORM_PER_ACT;
		g->per_act_cents = range(r, 0, 10000);
		if (chance(r, 50)) {
			g->has |= RULES_G_MAX_ACTS;
			g->max_acts_per_year = (int32_t)range(r, 1, 6);
		}
	} else {
		g->form = RULES_FORM_EQUIPMENT;
		g->equipment_cents = range(r, 0, 300000);
	}
}

static void gen_guarantee(struct rng *r, enum rules_category cat, struct rules_guarantee *g)
{
	memset(g, 0, sizeof *g);
	if (chance(r, 20) && !chance(r, 25))
		return; /* no guarantee */
	if (!chance(r, 10))
		gen_form(r, g);
	if (g->form == RULES_FORM_NONE || chance(r, 25)) {
		g->has |= RULES_G_ANNUAL;
		g->annual_cents = range(r, 0, 50000);
	}
	/* Drawn anyway, so that the rest of the stream stays the same: a
	 * per-act forfait with an envelope is refused. */
	if (g->form == RULES_FORM_PER_ACT) {
		g->has &= ~RULES_G_ANNUAL;
		g->annual_cents = 0;
	}
	if (chance(r, 25)) {
		g->has |= RULES_G_ANNUAL_CAP;
		g->annual_cap_cents = range(r, 0, 200000);
	}
	/* Likewise: a non-OPTAM percentage is refused outside doctors' fees. */
	if (cat != RULES_CAT_CONSULT_GP && cat != RULES_CAT_CONSULT_SPEC &&
	    cat != RULES_CAT_HOSP_HONORAIRES && cat != RULES_CAT_RADIOLOGIE) {
		g->has &= ~RULES_G_NON_OPTAM;
		g->non_optam_pct_brss = 0;
	}
	if ((cat == RULES_CAT_OPTIQUE_EQUIPEMENT || cat == RULES_CAT_AUDIO) && chance(r, 30)) {
		g->has |= RULES_G_RENEWAL;
		g->renewal_months = (int32_t)range(r, 1, 60);
	}
}

static rules_date_t gen_date(struct rng *r, int from_year, int to_year)
{
	int y = (int)range(r, from_year, to_year);
	int m = (int)range(r, y == 2024 ? 6 : 1, 12);

	return rules_date_ymd(y, m, (int)range(r, 1, 28));
}

static void gen_history(struct rng *r, struct rules_history_item *h)
{
	rules_history_init(h);
	h->date = gen_date(r, 2023, 2027);
	h->category = (enum rules_category)range(r, 0, RULES_CAT_COUNT - 1);
	h->pf_cents = chance(r, 30) ? range(r, 0, 300) : 0;
	h->franchise_cents = chance(r, 30) ? range(r, 0, 500) : 0;
	h->amc_cents = range(r, 0, 20000);
	h->forfait_cents = chance(r, 30) ? range(r, 0, h->amc_cents) : 0;
	h->quantity = (int32_t)range(r, 1, 3);
	h->equipment = chance(r, 70) ? rules_history_equipment_default(h->category, h->amc_cents)
				     : chance(r, 50);
}

/* Baskets and glasses of the categories that have them. */
static void gen_basket(struct rng *r, struct rules_line *l)
{
	enum rules_category c = l->category;
	bool glasses = c == RULES_CAT_OPTIQUE_EQUIPEMENT;

	if (c != RULES_CAT_DENT_PROTHESE && !glasses && c != RULES_CAT_AUDIO)
		return;
	if (chance(r, 40)) {
		l->basket = RULES_BASKET_100PS;
		l->price_limit_cents = l->brss_cents + range(r, 0, 50000);
		l->given |= RULES_GIVEN_PRICE_LIMIT;
	} else if (c == RULES_CAT_DENT_PROTHESE && chance(r, 20)) {
		l->basket = RULES_BASKET_MAITRISE;
	} else if (glasses || chance(r, 50)) {
		l->basket = RULES_BASKET_LIBRE;
	}
	if (glasses && (l->basket != RULES_BASKET_100PS || chance(r, 50))) {
		l->lenses[0] = (enum rules_lens)range(r, 1, 3);
		l->lenses[1] = (enum rules_lens)range(r, 1, 3);
	}
	if (glasses)
		l->frame_charged_cents = range(r, 0, l->charged_cents);
}

/* A line priced from the act table (no brss nor rate given). */
static bool gen_act(struct rng *r, struct rules_line *l)
{
	if (l->date < 20241222 || !chance(r, 30))
		return false;
	switch (l->category) {
	case RULES_CAT_CONSULT_GP:
		l->act = "G";
		l->charged_cents = range(r, 3000, 8000) * l->quantity;
		return true;
	case RULES_CAT_AUXILIAIRE:
		l->act = chance(r, 50) ? "AMI" : "AIS";
		l->charged_cents = range(r, 200, 2000) * l->quantity;
		return true;
	case RULES_CAT_DENT_PROTHESE:
		l->act = "HBLD634";
		l->basket = RULES_BASKET_100PS;
		l->charged_cents = range(r, 7200, 70000) * l->quantity;
		return true;
	default:
		return false;
	}
}

static void gen_amounts(struct rng *r, struct rules_line *l)
{
	static const int rates[] = {0, 15, 30, 60, 65, 70, 80, 100};
	int64_t gross;

	l->amo_rate = rates[range(r, 0, 7)];
	l->brss_cents = l->category == RULES_CAT_OPTIQUE_EQUIPEMENT ? 15 : range(r, 0, 50000);
	l->given = RULES_GIVEN_BRSS | RULES_GIVEN_AMO_RATE;
	gross = (l->brss_cents * l->amo_rate + 50) / 100;
	/* Sometimes charged below the BRSS, never below the AMO share. */
	l->charged_cents = chance(r, 30) ? range(r, gross, imax(gross, l->brss_cents))
					 : gross + range(r, 0, 60000);
}

static void gen_line(struct rng *r, struct gen *g, int i)
{
	struct rules_line *l = &g->lines[i];

	rules_line_init(l);
	snprintf(g->ids[i], sizeof g->ids[i], "L%d", (i + 1) % 100);
	l->id = g->ids[i];
	l->date = i > 0 && chance(r, 30) ? g->lines[range(r, 0, i - 1)].date
					 : gen_date(r, 2024, 2027);
	l->category = (enum rules_category)range(r, 0, RULES_CAT_COUNT - 1);
	l->quantity = (int32_t)range(r, 1, 5);
	l->optam = chance(r, 70);
	l->parcours = chance(r, 80);
	if (!gen_act(r, l)) {
		gen_amounts(r, l);
		gen_basket(r, l);
	}
}

static void gen_request(struct rng *r, struct gen *g)
{
	memset(g, 0, sizeof *g);
	rules_contract_init(&g->contract, chance(r, 70));
	for (int c = 0; c < RULES_CAT_COUNT; c++)
		gen_guarantee(r, (enum rules_category)c, &g->contract.g[c]);
	g->req.beneficiary.birth_date = rules_date_ymd((int)range(r, 1930, 2023),
						       (int)range(r, 1, 12), (int)range(r, 1, 28));
	g->req.beneficiary.exempt = chance(r, 10)  ? RULES_EXEMPT_C2S
				    : chance(r, 5) ? RULES_EXEMPT_MATERNITY
						   : 0;
	g->req.contract = &g->contract;
	g->req.n_history = (size_t)range(r, 0, MAX_HIST);
	for (size_t i = 0; i < g->req.n_history; i++)
		gen_history(r, &g->hist[i]);
	g->req.history = g->hist;
	g->req.n_lines = (size_t)range(r, 1, MAX_LINES);
	for (size_t i = 0; i < g->req.n_lines; i++)
		gen_line(r, g, (int)i);
	g->req.lines = g->lines;
}

/* ---- the properties ----------------------------------------------------------- */

static int failures; /* requests that broke a property, to stop early */

static bool has_rule(const struct rules_line_result *r, enum rules_rule rule)
{
	for (int i = 0; i < r->n_rules; i++)
		if (r->rules[i] == rule)
			return true;
	return false;
}

static bool floored(const struct rules_line_result *r)
{
	return has_rule(r, RULES_R_TM_FLOOR) || has_rule(r, RULES_R_FJH_FULL) ||
	       has_rule(r, RULES_R_100PS);
}

static int64_t pct_of(int64_t x, int64_t p)
{
	return (x * p + 50) / 100;
}

/* The reference AMO of step 4, from the values the line was priced at. */
static int64_t reference(const struct gen *g, const struct rules_line *l,
			 const struct rules_line_result *r)
{
	bool parcours_cat =
		l->category == RULES_CAT_CONSULT_GP || l->category == RULES_CAT_CONSULT_SPEC;

	if (g->contract.responsible && parcours_cat && !l->parcours)
		return pct_of(r->brss_cents, 70);
	return r->amo_gross_cents;
}

static bool tm_mandatory(const struct gen *g, const struct rules_line *l,
			 const struct rules_line_result *r)
{
	return g->contract.responsible && r->amo_rate > 0 &&
	       !(l->category == RULES_CAT_PHARMA && (r->amo_rate == 15 || r->amo_rate == 30));
}

static void check_line_balance(const struct rules_line *l, const struct rules_line_result *r)
{
	int64_t room = r->charged_cents - r->amo_gross_cents;

	CHECK_EQ_I64(r->charged_cents, l->charged_cents);
	CHECK_EQ_I64(r->amo_paid_cents + r->amc_cents + r->rac_cents, r->charged_cents);
	CHECK_EQ_I64(r->amo_gross_cents - r->pf_cents - r->franchise_cents, r->amo_paid_cents);
	CHECK(room >= 0);
	CHECK(r->amc_cents >= 0 && r->amc_cents <= room);
	CHECK(r->rac_cents >= r->pf_cents + r->franchise_cents);
	CHECK(r->forfait_cents >= 0 && r->forfait_cents <= r->amc_cents);
	CHECK(r->pf_cents >= 0 && r->pf_cents <= 200);
	CHECK(r->franchise_cents >= 0 && r->amo_paid_cents >= 0);
	if (has_rule(r, RULES_R_RENEWAL_NOT_DUE))
		CHECK_EQ_I64(r->amc_cents, 0);
}

/* A cap of PF or franchise is named only when it cut the amount below
 * what the act and the AMO share alone would have withheld. */
static void check_cap_names(const struct rules_line *l, const struct rules_line_result *r)
{
	int64_t fr = -1;

	if (has_rule(r, RULES_R_PF_DAILY_CAP) || has_rule(r, RULES_R_PF_ANNUAL_CAP))
		CHECK(r->pf_cents < imin(200, r->amo_gross_cents));
	if (l->category == RULES_CAT_PHARMA || l->category == RULES_CAT_AUXILIAIRE)
		fr = 100 * (int64_t)l->quantity;
	else if (l->category == RULES_CAT_TRANSPORT)
		fr = 400;
	if (has_rule(r, RULES_R_FRANCHISE_DAILY_CAP) || has_rule(r, RULES_R_FRANCHISE_ANNUAL_CAP))
		CHECK(fr >= 0 && r->franchise_cents < imin(fr, r->amo_gross_cents - r->pf_cents));
}

static int64_t price_limit(const struct gen *g, const struct rules_line *l)
{
	const struct rules_act *a;

	if (l->given & RULES_GIVEN_PRICE_LIMIT)
		return l->price_limit_cents;
	a = rules_params_act(&params, l->act, l->date,
			     rules_age(g->req.beneficiary.birth_date, l->date));
	/* The table's limit is one act's; the line holds `quantity`. */
	return a != NULL && a->price_limit_cents >= 0 ? a->price_limit_cents * l->quantity : -1;
}

static void check_floors(const struct gen *g, const struct rules_line *l,
			 const struct rules_line_result *r)
{
	int64_t room = r->charged_cents - r->amo_gross_cents;
	int64_t tm = imax(0, imin(l->charged_cents, r->brss_cents) - reference(g, l, r));
	bool basket_cat = l->category == RULES_CAT_OPTIQUE_EQUIPEMENT ||
			  l->category == RULES_CAT_DENT_PROTHESE || l->category == RULES_CAT_AUDIO;

	if (tm_mandatory(g, l, r))
		CHECK(r->amc_cents >= imin(tm, room));
	if (l->category == RULES_CAT_HOSP_FJH)
		CHECK_EQ_I64(r->amc_cents, room);
	if (l->basket == RULES_BASKET_100PS && basket_cat) {
		int64_t want =
			imax(0, imin(l->charged_cents, price_limit(g, l)) - r->amo_gross_cents);

		CHECK_EQ_I64(r->amc_cents, imin(want, room));
	}
}

static void check_ceilings(const struct gen *g, const struct rules_line *l,
			   const struct rules_line_result *r)
{
	const struct rules_guarantee *gu = &g->contract.g[l->category];
	bool doctor =
		l->category == RULES_CAT_CONSULT_GP || l->category == RULES_CAT_CONSULT_SPEC ||
		l->category == RULES_CAT_HOSP_HONORAIRES || l->category == RULES_CAT_RADIOLOGIE;
	int64_t paid = r->amo_gross_cents + r->amc_cents;

	if (l->category == RULES_CAT_OPTIQUE_EQUIPEMENT && l->basket != RULES_BASKET_100PS) {
		CHECK(paid <= params.optics[0].ceiling_cents[l->lenses[0] - 1][l->lenses[1] - 1]);
		CHECK(paid <= l->charged_cents - imax(0, l->frame_charged_cents - 10000));
	}
	if (l->category == RULES_CAT_AUDIO && l->basket != RULES_BASKET_100PS)
		CHECK(paid <= 170000);
	if (doctor && !l->optam && !(gu->has & RULES_G_ANNUAL) &&
	    (gu->form == RULES_FORM_PCT || gu->form == RULES_FORM_FRAIS_REELS)) {
		int64_t ref = reference(g, l, r);
		int64_t lim = imax(0, imin(l->charged_cents, pct_of(r->brss_cents, 200)) - ref);
		int64_t tm = tm_mandatory(g, l, r)
				     ? imax(0, imin(l->charged_cents, r->brss_cents) - ref)
				     : 0;

		CHECK(r->amc_cents <= imax(lim, tm));
	}
}

/* The renewal period of step 5, the guarantee's or the law's. */
static int renewal_months(const struct gen *g, const struct rules_line *l)
{
	const struct rules_guarantee *gu = &g->contract.g[l->category];

	if (gu->has & RULES_G_RENEWAL)
		return gu->renewal_months;
	if (l->category == RULES_CAT_AUDIO)
		return 48;
	return rules_age(g->req.beneficiary.birth_date, l->date) < 16 ? 12 : 24;
}

static bool blocks(rules_date_t equipment, rules_date_t d, int months)
{
	return equipment <= d && d < rules_date_add_months(equipment, months);
}

/* Step 5 by its definition: every equipment looked at. */
static void check_renewals(const struct gen *g, const struct rules_line_result *res)
{
	for (size_t i = 0; i < g->req.n_lines; i++) {
		const struct rules_line *l = &g->lines[i];
		int months = renewal_months(g, l);
		bool due = true;

		if (l->category != RULES_CAT_OPTIQUE_EQUIPEMENT && l->category != RULES_CAT_AUDIO)
			continue;
		for (size_t k = 0; k < g->req.n_history; k++)
			if (g->hist[k].equipment && g->hist[k].category == l->category &&
			    blocks(g->hist[k].date, l->date, months))
				due = false;
		for (size_t k = 0; k < i; k++)
			if (g->lines[k].category == l->category && res[k].amc_cents > 0 &&
			    blocks(g->lines[k].date, l->date, months))
				due = false;
		CHECK(has_rule(&res[i], RULES_R_RENEWAL_NOT_DUE) == !due);
	}
}

/* Sums of the history for one calendar day or year. */
struct sums {
	int64_t pf, franchise, aux, transport, amc, forfait, units;
};

static void history_sums(const struct gen *g, rules_date_t day, int year, enum rules_category cat,
			 struct sums *s)
{
	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < g->req.n_history; i++) {
		const struct rules_history_item *h = &g->hist[i];

		if (day != 0 && h->date == day) {
			s->pf += h->pf_cents;
			s->aux += h->category == RULES_CAT_AUXILIAIRE ? h->franchise_cents : 0;
			s->transport += h->category == RULES_CAT_TRANSPORT ? h->franchise_cents : 0;
		}
		if (year != 0 && rules_date_year(h->date) == year) {
			s->pf += h->pf_cents;
			s->franchise += h->franchise_cents;
			if (h->category == cat) {
				s->amc += h->amc_cents;
				s->forfait += h->forfait_cents;
				s->units += h->forfait_cents > 0 ? h->quantity : 0;
			}
		}
	}
}

/* Daily caps of PF and franchises, every day of the request. */
static void check_days(const struct gen *g, const struct rules_line_result *res)
{
	for (size_t i = 0; i < g->req.n_lines; i++) {
		struct sums h, s = {0};

		history_sums(g, g->lines[i].date, 0, 0, &h);
		for (size_t k = 0; k < g->req.n_lines; k++) {
			if (g->lines[k].date != g->lines[i].date)
				continue;
			s.pf += res[k].pf_cents;
			if (g->lines[k].category == RULES_CAT_AUXILIAIRE)
				s.aux += res[k].franchise_cents;
			if (g->lines[k].category == RULES_CAT_TRANSPORT)
				s.transport += res[k].franchise_cents;
		}
		CHECK(s.pf <= imax(0, 800 - h.pf));
		CHECK(s.aux <= imax(0, 400 - h.aux));
		CHECK(s.transport <= imax(0, 800 - h.transport));
	}
}

/* Annual caps, envelopes and acts left, line by line in request order. */
static void check_year_of_line(const struct gen *g, const struct rules_line_result *res, size_t i)
{
	const struct rules_line *l = &g->lines[i];
	const struct rules_guarantee *gu = &g->contract.g[l->category];
	int year = rules_date_year(l->date);
	struct sums h, before = {0};

	history_sums(g, 0, year, l->category, &h);
	for (size_t k = 0; k < i; k++) {
		if (rules_date_year(g->lines[k].date) != year ||
		    g->lines[k].category != l->category)
			continue;
		before.amc += res[k].amc_cents;
		before.forfait += res[k].forfait_cents;
		before.units += res[k].forfait_cents > 0 ? g->lines[k].quantity : 0;
	}
	if ((gu->has & RULES_G_ANNUAL_CAP) && !floored(&res[i]))
		CHECK(res[i].amc_cents <= imax(0, gu->annual_cap_cents - h.amc - before.amc));
	if (gu->has & RULES_G_ANNUAL)
		CHECK(res[i].forfait_cents <=
		      imax(0, gu->annual_cents - h.forfait - before.forfait));
	if (gu->form == RULES_FORM_PER_ACT && (gu->has & RULES_G_MAX_ACTS) && !floored(&res[i])) {
		int64_t left = imax(0, gu->max_acts_per_year - h.units - before.units);

		CHECK(res[i].amc_cents <= gu->per_act_cents * left);
	}
}

/* PF and franchises of each calendar year, the history included. */
static void check_years(const struct gen *g, const struct rules_line_result *res)
{
	for (size_t i = 0; i < g->req.n_lines; i++) {
		int year = rules_date_year(g->lines[i].date);
		struct sums h, s = {0};

		history_sums(g, 0, year, 0, &h);
		for (size_t k = 0; k < g->req.n_lines; k++) {
			if (rules_date_year(g->lines[k].date) != year)
				continue;
			s.pf += res[k].pf_cents;
			s.franchise += res[k].franchise_cents;
		}
		CHECK(s.pf <= imax(0, 5000 - h.pf));
		CHECK(s.franchise <= imax(0, 5000 - h.franchise));
		check_year_of_line(g, res, i);
	}
}

static void check_totals(const struct gen *g, const struct rules_line_result *res,
			 const struct rules_totals *t)
{
	struct rules_totals s = {0, 0, 0, 0};

	for (size_t i = 0; i < g->req.n_lines; i++) {
		s.charged_cents += res[i].charged_cents;
		s.amo_paid_cents += res[i].amo_paid_cents;
		s.amc_cents += res[i].amc_cents;
		s.rac_cents += res[i].rac_cents;
	}
	CHECK_EQ_I64(t->charged_cents, s.charged_cents);
	CHECK_EQ_I64(t->amo_paid_cents, s.amo_paid_cents);
	CHECK_EQ_I64(t->amc_cents, s.amc_cents);
	CHECK_EQ_I64(t->rac_cents, s.rac_cents);
}

/* Line by line, each computed line appended to the history. */
static void check_incremental(struct gen *g, const struct rules_line_result *batch)
{
	struct rules_request one = g->req;
	struct rules_line_result r;
	struct rules_totals t;
	struct rules_error err;
	size_t n_hist = g->req.n_history;

	one.n_lines = 1;
	for (size_t i = 0; i < g->req.n_lines; i++) {
		struct rules_history_item *h = &g->hist[n_hist + i];

		one.lines = &g->lines[i];
		one.n_history = n_hist + i;
		REQUIRE(rules_compute(&params, &one, &r, &t, &err) == RULES_OK);
		CHECK(memcmp(&r, &batch[i], sizeof r) == 0);
		rules_history_init(h);
		h->date = g->lines[i].date;
		h->category = g->lines[i].category;
		h->pf_cents = r.pf_cents;
		h->franchise_cents = r.franchise_cents;
		h->amc_cents = r.amc_cents;
		h->forfait_cents = r.forfait_cents;
		h->quantity = g->lines[i].quantity;
		h->equipment = rules_history_equipment_default(h->category, h->amc_cents);
	}
}

/* The history in parts, as the workers read it: YEAR sums per calendar
 * year and category, the DAY rows of the request's days, the EQUIPMENT
 * rows. The same result as the rows themselves. */
#define SPLIT_MAX (5 * RULES_CAT_COUNT + 2 * MAX_HIST)

static bool request_day(const struct gen *g, rules_date_t d)
{
	for (size_t i = 0; i < g->req.n_lines; i++)
		if (g->lines[i].date == d)
			return true;
	return false;
}

static struct rules_history_item *year_item(const struct gen *g, struct rules_history_item *parts,
					    size_t *n, rules_date_t date, enum rules_category cat)
{
	int year = rules_date_year(date);
	rules_date_t when = rules_date_ymd(year, 1, 1);

	for (size_t k = 0; k < *n; k++)
		if (parts[k].scope == RULES_HISTORY_YEAR &&
		    rules_date_year(parts[k].date) == year && parts[k].category == cat)
			return &parts[k];
	rules_history_init(&parts[*n]);
	parts[*n].scope = RULES_HISTORY_YEAR;
	/* Any day of the year will do: a day of the request when there is
	 * one, to show that a year's sums count in no day. */
	for (size_t i = 0; i < g->req.n_lines; i++)
		if (rules_date_year(g->lines[i].date) == year)
			when = g->lines[i].date;
	parts[*n].date = when;
	parts[*n].category = cat;
	parts[*n].quantity = 0;
	return &parts[(*n)++];
}

static void check_split_history(const struct gen *g, const struct rules_line_result *rows)
{
	static struct rules_history_item parts[SPLIT_MAX];
	struct rules_line_result res[MAX_LINES];
	struct rules_request split = g->req;
	struct rules_totals t;
	struct rules_error err;
	size_t n = 0;

	for (size_t i = 0; i < g->req.n_history; i++) {
		const struct rules_history_item *h = &g->hist[i];
		struct rules_history_item *y = year_item(g, parts, &n, h->date, h->category);

		y->pf_cents += h->pf_cents;
		y->franchise_cents += h->franchise_cents;
		y->amc_cents += h->amc_cents;
		y->forfait_cents += h->forfait_cents;
		if (h->forfait_cents > 0)
			y->quantity += h->quantity;
	}
	for (size_t k = 0; k < n; k++)
		if (parts[k].quantity < 1)
			parts[k].quantity = 1;
	for (size_t i = 0; i < g->req.n_history; i++) {
		if (request_day(g, g->hist[i].date)) {
			parts[n] = g->hist[i];
			parts[n].equipment = false;
			parts[n++].scope = RULES_HISTORY_DAY;
		}
		if (g->hist[i].equipment) {
			parts[n] = g->hist[i];
			parts[n++].scope = RULES_HISTORY_EQUIPMENT;
		}
	}
	split.history = parts;
	split.n_history = n;
	memset(res, 0, sizeof res);
	REQUIRE(rules_compute(&params, &split, res, &t, &err) == RULES_OK);
	CHECK(memcmp(res, rows, sizeof(*res) * g->req.n_lines) == 0);
}

static void check_request(struct gen *g)
{
	struct rules_line_result res[MAX_LINES], again[MAX_LINES];
	struct rules_totals t, t2;
	struct rules_error err;

	memset(res, 0, sizeof res);
	memset(again, 0, sizeof again);
	if (rules_compute(&params, &g->req, res, &t, &err) != RULES_OK) {
		printf("  refused: %s: %s\n", err.field, err.reason);
		CHECK(0);
		return;
	}
	for (size_t i = 0; i < g->req.n_lines; i++) {
		check_line_balance(&g->lines[i], &res[i]);
		check_cap_names(&g->lines[i], &res[i]);
		if (g->contract.responsible && !has_rule(&res[i], RULES_R_RENEWAL_NOT_DUE)) {
			check_floors(g, &g->lines[i], &res[i]);
			check_ceilings(g, &g->lines[i], &res[i]);
		}
	}
	check_days(g, res);
	check_years(g, res);
	check_renewals(g, res);
	check_totals(g, res, &t);
	REQUIRE(rules_compute(&params, &g->req, again, &t2, &err) == RULES_OK);
	CHECK(memcmp(res, again, sizeof res) == 0);
	check_split_history(g, res);
	check_incremental(g, res);
}

/* The parameters every program reads (common/params.c), from the repo root. */
static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
}

static void test_random_requests(void)
{
	struct rng r = {20260310};
	struct gen *g = malloc(sizeof *g);
	size_t lines = 0, floors = 0, caps = 0, renewals = 0, acts = 0;

	REQUIRE(g != NULL);
	for (int n = 0; n < REQUESTS && !test_current_failed; n++) {
		struct rules_line_result res[MAX_LINES];
		struct rules_totals t;
		struct rules_error err;

		gen_request(&r, g);
		check_request(g);
		if (test_current_failed) {
			printf("  request %d broke a property (seed 20260310)\n", n);
			failures++;
			break;
		}
		/* Count what the generator reached, so a weak one shows. */
		if (rules_compute(&params, &g->req, res, &t, &err) != RULES_OK)
			continue;
		for (size_t i = 0; i < g->req.n_lines; i++) {
			lines++;
			floors += floored(&res[i]);
			caps += has_rule(&res[i], RULES_R_ANNUAL_CAP) ||
				has_rule(&res[i], RULES_R_OPTICS_CEILING);
			renewals += has_rule(&res[i], RULES_R_RENEWAL_NOT_DUE);
			acts += has_rule(&res[i], RULES_R_ACT_TARIFF);
		}
	}
	printf("  %zu lines: %zu floored, %zu capped, %zu renewals not due, %zu act tariffs\n",
	       lines, floors, caps, renewals, acts);
	CHECK(floors > 100 && caps > 100 && renewals > 10 && acts > 100);
	free(g);
}

int main(void)
{
	RUN(load_params);
	RUN(test_random_requests);
	return test_report();
}
