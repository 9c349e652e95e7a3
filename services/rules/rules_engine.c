/*
 * NAME
 *	rules_engine.c - the arithmetic of the reimbursement rules, version 1
 *
 * SYNOPSIS
 *	int rules_compute(const struct rules_params *p,
 *			  const struct rules_request *req,
 *			  struct rules_line_result *out,
 *			  struct rules_totals *totals, struct rules_error *err);
 *
 * DESCRIPTION
 *	Section 5 of the domain reference, step by step (the step numbers
 *	below are its own), over the request of section 4. docs/rules.md
 *	explains every rule name for support staff.
 *
 *	Speed: the history is read once per request into accumulators
 *	keyed by the calendar years and days of the request's lines (PF and
 *	franchises per day and per year, AMC, forfaits and forfait units per
 *	year and category, equipment dates for renewals). Each computed line
 *	is then added to the same accumulators, so a line costs a constant
 *	number of steps whatever the length of the history, but for the
 *	renewal of an equipment: O(log n), the equipment dates of a category
 *	being sorted once per request (see renewal_not_due). The
 *	accumulators live in a per-call arena: a buffer on the stack, or one
 *	malloc for requests too large for it.
 *
 * DIAGNOSTICS
 *	RULES_ERR with err naming the field: any fault of
 *	rules_request_check(), and the faults only the parameters reveal:
 *	an unknown act code whose tariff is needed, an act of another
 *	category, no parameters in force on a line's date, an AMO share
 *	above the amount charged, a price limit below the BRSS (given with
 *	any basket, or the act table's for 100PS).
 */
#include "rules/rules_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIT(cat) (1u << (cat))

/* Step 2: acts that bear the participation forfaitaire. */
static const uint32_t pf_categories = BIT(RULES_CAT_CONSULT_GP) | BIT(RULES_CAT_CONSULT_SPEC) |
				      BIT(RULES_CAT_TELECONSULT) | BIT(RULES_CAT_BIOLOGIE) |
				      BIT(RULES_CAT_RADIOLOGIE);
/* Step 6: doctors whose dépassements the non-OPTAM limits bound. */
static const uint32_t doctor_categories = BIT(RULES_CAT_CONSULT_GP) | BIT(RULES_CAT_CONSULT_SPEC) |
					  BIT(RULES_CAT_HOSP_HONORAIRES) |
					  BIT(RULES_CAT_RADIOLOGIE);
/* Step 4: the consultations that the parcours de soins concerns. */
static const uint32_t parcours_categories = BIT(RULES_CAT_CONSULT_GP) | BIT(RULES_CAT_CONSULT_SPEC);
/* Step 8: the 100 % Santé baskets (glasses class A, dental, audio class I). */
static const uint32_t basket_categories =
	BIT(RULES_CAT_OPTIQUE_EQUIPEMENT) | BIT(RULES_CAT_DENT_PROTHESE) | BIT(RULES_CAT_AUDIO);
/* Step 5: equipments with a renewal period. */
static const uint32_t equipment_categories =
	BIT(RULES_CAT_OPTIQUE_EQUIPEMENT) | BIT(RULES_CAT_AUDIO);

#define YEARS	    (RULES_MAX_YEAR - RULES_MIN_YEAR + 1)
#define STACK_ARENA 16384

/* What a calendar year of the request has consumed so far. */
struct year_acc {
	int64_t pf;
	int64_t franchise;
	int64_t amc[RULES_CAT_COUNT];
	int64_t forfait[RULES_CAT_COUNT];
	int64_t units[RULES_CAT_COUNT]; /* acts that were paid a forfait */
};

/* What a calendar day of the request has consumed so far. */
struct day_acc {
	rules_date_t date;
	int64_t pf;
	int64_t franchise_auxiliaire;
	int64_t franchise_transport;
};

/* The equipments of one category (step 5). Those of the history are
 * sorted once per request. The request's lines of the category are
 * slots sorted by date; `latest` is a Fenwick tree over them whose prefix
 * of k slots gives the latest line paid as an equipment among the first
 * k (0 for none), so that lines computed out of date order join in
 * O(log n). */
struct equip_index {
	rules_date_t *history;
	size_t n_history;
	rules_date_t *slots;
	rules_date_t *latest;
	size_t n_slots;
};

struct state {
	int16_t year_slot[YEARS]; /* -1: no line in that year */
	struct year_acc *years;
	int n_years;
	struct day_acc *days;
	size_t n_days;
	uint32_t *day_hash; /* slot + 1, 0 for an empty bucket */
	uint32_t hash_mask;
	struct equip_index equip[RULES_CAT_COUNT]; /* equipment categories only */
	rules_date_t last_line_date;
};

/* Everything one line's steps share. */
struct line_ctx {
	const struct rules_line *l;
	const struct rules_guarantee *g;
	struct rules_param_set ps;
	struct year_acc *year;
	struct day_acc *day;
	struct rules_line_result *r;
	size_t index; /* for error paths, formatted only on error */
	bool responsible;
	bool exempt_pf;
	bool exempt_franchise;
	int age;
	int64_t brss;
	int32_t rate;
	int64_t price_limit;
	int64_t amo_gross;
	int64_t room;
	int64_t ref;
	int64_t tm;
	bool tm_mandatory;
	int64_t amc;
	int64_t forfait;
};

static bool in(uint32_t set, enum rules_category cat)
{
	return (set & BIT(cat)) != 0;
}

static void note(struct line_ctx *c, enum rules_rule rule)
{
	if (c->r->n_rules < RULES_TRACE_MAX)
		c->r->rules[c->r->n_rules++] = (uint8_t)rule;
}

/* The request's faults that only the parameters reveal. */
__attribute__((format(printf, 4, 5))) static int line_fail(const struct line_ctx *c,
							   struct rules_error *err,
							   const char *member, const char *fmt, ...)
{
	char path[32];
	va_list ap;

	snprintf(path, sizeof path, "lines[%zu]", c->index);
	va_start(ap, fmt);
	rules_verror_at(err, path, member, fmt, ap);
	va_end(ap);
	if (err != NULL)
		err->line = (int)c->index;
	return RULES_ERR;
}

/* Lowering the AMC takes from the forfait part first: an envelope is
 * paid "on top of the rest", so it is the first thing a cap removes and
 * what is left of it stays available for later acts. */
static void lower_amc(struct line_ctx *c, int64_t v)
{
	int64_t cut = c->amc - v;

	c->forfait -= rules_min(c->forfait, cut);
	c->amc = v;
}

/* A legal floor raises the part that is not a forfait. */
static void set_amc(struct line_ctx *c, int64_t v)
{
	if (v < c->amc)
		lower_amc(c, v);
	else
		c->amc = v;
}

/* ---- the per-call arena and the accumulators --------------------------- */

static uint32_t day_bucket(rules_date_t d, uint32_t mask)
{
	return ((uint32_t)d * 2654435761u) & mask;
}

/* The slot of day d, or NULL when no line falls on it. */
static struct day_acc *day_find(struct state *st, rules_date_t d)
{
	for (uint32_t b = day_bucket(d, st->hash_mask);; b = (b + 1) & st->hash_mask) {
		uint32_t s = st->day_hash[b];

		if (s == 0)
			return NULL;
		if (st->days[s - 1].date == d)
			return &st->days[s - 1];
	}
}

static void day_add(struct state *st, rules_date_t d)
{
	uint32_t b = day_bucket(d, st->hash_mask);

	for (;; b = (b + 1) & st->hash_mask) {
		uint32_t s = st->day_hash[b];

		if (s == 0)
			break;
		if (st->days[s - 1].date == d)
			return;
	}
	st->days[st->n_days].date = d;
	st->day_hash[b] = (uint32_t)++st->n_days;
}

static struct year_acc *year_find(struct state *st, rules_date_t d)
{
	int s = st->year_slot[rules_date_year(d) - RULES_MIN_YEAR];

	return s < 0 ? NULL : &st->years[s];
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

static bool counts_as_equipment(const struct rules_history_item *h)
{
	return h->equipment && in(equipment_categories, h->category) &&
	       (h->scope == RULES_HISTORY_ALL || h->scope == RULES_HISTORY_EQUIPMENT);
}

/* Only what a line of the request can ask about: equipments up to its
 * last day, of a category it has lines of. */
static bool keep_equipment(const struct state *st, const struct rules_history_item *h)
{
	return counts_as_equipment(h) && h->date <= st->last_line_date &&
	       st->equip[h->category].n_slots > 0;
}

/* Sizes st->equip for the arena: the slots of the lines, then the
 * history's equipments kept. */
static void count_equipment(struct state *st, const struct rules_request *req)
{
	memset(st->equip, 0, sizeof st->equip);
	for (size_t i = 0; i < req->n_lines; i++)
		if (in(equipment_categories, req->lines[i].category))
			st->equip[req->lines[i].category].n_slots++;
	for (size_t i = 0; i < req->n_history; i++)
		if (keep_equipment(st, &req->history[i]))
			st->equip[req->history[i].category].n_history++;
}

/* Registers the years of the lines; returns how many distinct. */
static int index_years(struct state *st, const struct rules_request *req)
{
	int n = 0;

	memset(st->year_slot, 0xff, sizeof st->year_slot);
	st->last_line_date = 0;
	for (size_t i = 0; i < req->n_lines; i++) {
		rules_date_t d = req->lines[i].date;
		int16_t *slot = &st->year_slot[rules_date_year(d) - RULES_MIN_YEAR];

		if (*slot < 0)
			*slot = (int16_t)n++;
		if (d > st->last_line_date)
			st->last_line_date = d;
	}
	return n;
}

/* Points the equipment indexes into `dates`, which holds them all. */
static void equip_layout(struct state *st, rules_date_t *dates)
{
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++) {
		struct equip_index *e = &st->equip[cat];

		e->history = dates;
		e->slots = dates + e->n_history;
		e->latest = e->slots + e->n_slots;
		dates = e->latest + e->n_slots;
	}
}

/* Lays out the arena; returns its size, or fills st when base != NULL. */
static size_t arena_layout(struct state *st, const struct rules_request *req, uint32_t hash_size,
			   unsigned char *base)
{
	size_t years = align16(sizeof(struct year_acc) * (size_t)st->n_years);
	size_t days = align16(sizeof(struct day_acc) * req->n_lines);
	size_t hash = align16(sizeof(uint32_t) * hash_size);
	size_t n_dates = 0, equip;

	for (int cat = 0; cat < RULES_CAT_COUNT; cat++)
		n_dates += st->equip[cat].n_history + 2 * st->equip[cat].n_slots;
	equip = align16(sizeof(rules_date_t) * n_dates);
	if (base != NULL) {
		st->years = (struct year_acc *)(void *)base;
		st->days = (struct day_acc *)(void *)(base + years);
		st->day_hash = (uint32_t *)(void *)(base + years + days);
		equip_layout(st, (rules_date_t *)(void *)(base + years + days + hash));
		memset(base, 0, years + days + hash + equip);
	}
	return years + days + hash + equip;
}

static void index_days(struct state *st, const struct rules_request *req)
{
	st->n_days = 0;
	for (size_t i = 0; i < req->n_lines; i++)
		day_add(st, req->lines[i].date);
}

/* ---- equipment dates (step 5) ------------------------------------------- */

static int date_cmp(const void *a, const void *b)
{
	rules_date_t x = *(const rules_date_t *)a, y = *(const rules_date_t *)b;

	return (x > y) - (x < y);
}

/* How many of the n sorted dates are on or before d. */
static size_t count_upto(const rules_date_t *dates, size_t n, rules_date_t d)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (dates[mid] <= d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The lowest set bit of i: the span of a node of the Fenwick tree. */
static size_t lowbit(size_t i)
{
	return i & (~i + 1);
}

/* Once the history is loaded: the lines' slots, and both sorted. */
static void index_equipment(struct state *st, const struct rules_request *req)
{
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++)
		st->equip[cat].n_slots = 0;
	for (size_t i = 0; i < req->n_lines; i++) {
		const struct rules_line *l = &req->lines[i];

		if (in(equipment_categories, l->category)) {
			struct equip_index *e = &st->equip[l->category];

			e->slots[e->n_slots++] = l->date;
		}
	}
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++) {
		struct equip_index *e = &st->equip[cat];

		if (e->n_history > 1)
			qsort(e->history, e->n_history, sizeof *e->history, date_cmp);
		if (e->n_slots > 1)
			qsort(e->slots, e->n_slots, sizeof *e->slots, date_cmp);
	}
}

/* A line of the request paid as an equipment on d, one of its slots. */
static void equip_add(struct equip_index *e, rules_date_t d)
{
	for (size_t i = count_upto(e->slots, e->n_slots, d); i > 0 && i <= e->n_slots;
	     i += lowbit(i))
		if (e->latest[i - 1] < d)
			e->latest[i - 1] = d;
}

/* The latest equipment dated on or before d; 0 when there is none. */
static rules_date_t equip_latest(const struct equip_index *e, rules_date_t d)
{
	size_t k = count_upto(e->history, e->n_history, d);
	rules_date_t latest = k > 0 ? e->history[k - 1] : 0;

	for (k = count_upto(e->slots, e->n_slots, d); k > 0; k -= lowbit(k))
		if (e->latest[k - 1] > latest)
			latest = e->latest[k - 1];
	return latest;
}

/* One pass over the history: only what a line of the request can ask
 * about is kept (its years, its days, equipments up to its last day). */
static void load_history(struct state *st, const struct rules_request *req)
{
	for (int cat = 0; cat < RULES_CAT_COUNT; cat++)
		st->equip[cat].n_history = 0;
	for (size_t i = 0; i < req->n_history; i++) {
		const struct rules_history_item *h = &req->history[i];
		struct year_acc *y = h->scope == RULES_HISTORY_ALL || h->scope == RULES_HISTORY_YEAR
					     ? year_find(st, h->date)
					     : NULL;
		struct day_acc *d = h->scope == RULES_HISTORY_ALL || h->scope == RULES_HISTORY_DAY
					    ? day_find(st, h->date)
					    : NULL;

		if (y != NULL) {
			y->pf += h->pf_cents;
			y->franchise += h->franchise_cents;
			y->amc[h->category] += h->amc_cents;
			y->forfait[h->category] += h->forfait_cents;
			if (h->forfait_cents > 0)
				y->units[h->category] += h->quantity;
		}
		if (d != NULL) {
			d->pf += h->pf_cents;
			if (h->category == RULES_CAT_AUXILIAIRE)
				d->franchise_auxiliaire += h->franchise_cents;
			else if (h->category == RULES_CAT_TRANSPORT)
				d->franchise_transport += h->franchise_cents;
		}
		if (keep_equipment(st, h)) {
			struct equip_index *e = &st->equip[h->category];

			e->history[e->n_history++] = h->date;
		}
	}
}

/* ---- the decrees in force on a line's date ----------------------------- */

static int line_params(struct line_ctx *c, const struct rules_params *p, struct rules_error *err)
{
	struct rules_error e;
	char day[11];

	if (rules_params_at(p, c->l->date, &c->ps, &e) == RULES_OK)
		return RULES_OK;
	rules_date_format(c->l->date, day);
	return line_fail(c, err, "date", "no %s parameters in force on %s", e.field, day);
}

/* ---- step 1 and the act table ------------------------------------------- */

static int act_tariff(struct line_ctx *c, const struct rules_params *p, struct rules_error *err)
{
	const struct rules_line *l = c->l;
	bool need_brss = !(l->given & RULES_GIVEN_BRSS);
	bool need_rate = !(l->given & RULES_GIVEN_AMO_RATE);
	bool need_limit = l->basket == RULES_BASKET_100PS && !(l->given & RULES_GIVEN_PRICE_LIMIT);
	const struct rules_act *a = rules_params_act(p, l->act, l->date, c->age);
	char day[11];

	if (a == NULL) {
		if (!need_brss && !need_rate && !need_limit)
			return RULES_OK;
		rules_date_format(l->date, day);
		return line_fail(c, err, "act", "unknown act code on %s", day);
	}
	if (a->category != l->category)
		return line_fail(c, err, "act", "act %s is a %s act", a->code,
				 rules_category_name(a->category));
	if (need_limit && a->price_limit_cents < 0)
		return line_fail(c, err, "price_limit_cents",
				 "required with basket 100PS (act %s has none)", a->code);
	/* The table prices one act; the line holds `quantity` of them (three
	 * AMI, two crowns), as a BRSS given on the line is the line's. */
	if ((need_brss && a->brss_cents > RULES_MAX_CENTS / l->quantity) ||
	    (need_limit && a->price_limit_cents > RULES_MAX_CENTS / l->quantity))
		return line_fail(c, err, "quantity", "%d acts %s are priced above %lld",
				 (int)l->quantity, a->code, (long long)RULES_MAX_CENTS);
	if (need_brss)
		c->brss = a->brss_cents * l->quantity;
	if (need_rate)
		c->rate = !l->parcours && a->amo_rate_outside_parcours >= 0
				  ? a->amo_rate_outside_parcours
				  : a->amo_rate;
	if (need_limit)
		c->price_limit = a->price_limit_cents * l->quantity;
	if (need_brss || need_rate || need_limit)
		note(c, RULES_R_ACT_TARIFF);
	return RULES_OK;
}

static int step_amo(struct line_ctx *c, const struct rules_params *p, struct rules_error *err)
{
	const struct rules_line *l = c->l;

	c->brss = l->brss_cents;
	c->rate = l->amo_rate;
	c->price_limit = l->price_limit_cents;
	if (l->act != NULL && act_tariff(c, p, err) != RULES_OK)
		return RULES_ERR;
	c->amo_gross = rules_pct(c->brss, c->rate);
	/* Otherwise the reste à charge would be negative. */
	if (c->amo_gross > l->charged_cents)
		return line_fail(c, err, "charged_cents",
				 "below the AMO share %lld (brss x amo_rate)",
				 (long long)c->amo_gross);
	/* A price limit is at least the BRSS, whatever the basket: one below
	 * it is a mistake of the sender (the BRSS may come from the act
	 * table, so this is judged here, not in rules_request_check()). */
	if ((l->basket == RULES_BASKET_100PS || (l->given & RULES_GIVEN_PRICE_LIMIT)) &&
	    c->price_limit < c->brss)
		return line_fail(c, err, "price_limit_cents", "below the BRSS %lld",
				 (long long)c->brss);
	return RULES_OK;
}

int rules_line_tariff_check(const struct rules_params *p, const struct rules_line *l, size_t index,
			    int age, int64_t *amo_gross, struct rules_error *err)
{
	struct rules_line_result r;
	struct line_ctx c;

	memset(&c, 0, sizeof c);
	memset(&r, 0, sizeof r);
	c.l = l;
	c.r = &r; /* the rules noted are not kept */
	c.index = index;
	c.age = age;
	if (line_params(&c, p, err) != RULES_OK || step_amo(&c, p, err) != RULES_OK)
		return RULES_ERR;
	if (amo_gross != NULL)
		*amo_gross = c.amo_gross;
	return RULES_OK;
}

/* ---- steps 2 and 3: PF and franchise ------------------------------------ */

static void step_pf(struct line_ctx *c)
{
	const struct rules_pf_params *pf = c->ps.pf;
	int64_t v, day_left, year_left;
	bool by_day = false, by_year = false;

	if (!in(pf_categories, c->l->category))
		return;
	if (c->exempt_pf) {
		if (c->amo_gross > 0)
			note(c, RULES_R_PF_EXEMPT);
		return;
	}
	/* The AMO share bounds first: a cap is named only when it cuts what
	 * the line would otherwise bear. */
	v = rules_min(pf->per_act_cents, c->amo_gross);
	day_left = rules_max(0, pf->daily_cap_cents - c->day->pf);
	year_left = rules_max(0, pf->annual_cap_cents - c->year->pf);
	if (day_left < v) {
		v = day_left;
		by_day = true;
	}
	if (year_left < v) {
		v = year_left;
		by_year = true;
	}
	c->r->pf_cents = v;
	if (c->r->pf_cents > 0)
		note(c, RULES_R_PF);
	if (by_day)
		note(c, RULES_R_PF_DAILY_CAP);
	if (by_year)
		note(c, RULES_R_PF_ANNUAL_CAP);
}

/* The franchise a line would bear before the annual cap; -1 for none. */
static int64_t franchise_base(const struct line_ctx *c, int64_t *day_left)
{
	const struct rules_franchise_params *f = c->ps.franchise;

	*day_left = INT64_MAX;
	switch (c->l->category) {
	case RULES_CAT_PHARMA:
		return f->pharma_per_unit_cents * c->l->quantity;
	case RULES_CAT_AUXILIAIRE:
		*day_left =
			rules_max(0, f->auxiliaire_daily_cap_cents - c->day->franchise_auxiliaire);
		return f->auxiliaire_per_unit_cents * c->l->quantity;
	case RULES_CAT_TRANSPORT:
		*day_left =
			rules_max(0, f->transport_daily_cap_cents - c->day->franchise_transport);
		return f->transport_per_trip_cents;
	default:
		return -1;
	}
}

int64_t rules_withholding_max(const struct rules_param_set *ps, enum rules_category cat,
			      int64_t quantity)
{
	const struct rules_pf_params *pf = ps->pf;
	const struct rules_franchise_params *f = ps->franchise;

	if (in(pf_categories, cat))
		return pf == NULL ? 0
				  : rules_min(pf->per_act_cents,
					      rules_min(pf->daily_cap_cents, pf->annual_cap_cents));
	if (f == NULL)
		return 0;
	switch (cat) {
	case RULES_CAT_PHARMA:
		return rules_min(f->pharma_per_unit_cents * quantity, f->annual_cap_cents);
	case RULES_CAT_AUXILIAIRE:
		return rules_min(f->auxiliaire_per_unit_cents * quantity,
				 rules_min(f->auxiliaire_daily_cap_cents, f->annual_cap_cents));
	case RULES_CAT_TRANSPORT:
		return rules_min(f->transport_per_trip_cents,
				 rules_min(f->transport_daily_cap_cents, f->annual_cap_cents));
	default:
		return 0;
	}
}

/* Exempt from the PF or the franchise whose exemption age is under_age. */
static bool withholding_exempt(unsigned exempt, int age, int32_t under_age)
{
	return exempt != 0 || age < under_age;
}

int64_t rules_withholding_max_for(const struct rules_param_set *ps, enum rules_category cat,
				  int64_t quantity, unsigned exempt, int age)
{
	bool pf = in(pf_categories, cat);
	int32_t under_age = pf ? (ps->pf ? ps->pf->exempt_under_age : 0)
			       : (ps->franchise ? ps->franchise->exempt_under_age : 0);

	if (withholding_exempt(exempt, age, under_age))
		return 0;
	return rules_withholding_max(ps, cat, quantity);
}

static void step_franchise(struct line_ctx *c)
{
	int64_t day_left, year_left;
	int64_t v = franchise_base(c, &day_left);
	bool by_day = false, by_year = false;

	if (v < 0)
		return;
	if (c->exempt_franchise) {
		if (c->amo_gross > 0)
			note(c, RULES_R_FRANCHISE_EXEMPT);
		return;
	}
	/* As for the PF: the AMO share left bounds first, then the caps. */
	v = rules_min(v, c->amo_gross - c->r->pf_cents);
	year_left = rules_max(0, c->ps.franchise->annual_cap_cents - c->year->franchise);
	if (day_left < v) {
		v = day_left;
		by_day = true;
	}
	if (year_left < v) {
		v = year_left;
		by_year = true;
	}
	c->r->franchise_cents = v;
	if (c->r->franchise_cents > 0)
		note(c, RULES_R_FRANCHISE);
	if (by_day)
		note(c, RULES_R_FRANCHISE_DAILY_CAP);
	if (by_year)
		note(c, RULES_R_FRANCHISE_ANNUAL_CAP);
}

/* ---- step 4: room and reference AMO ------------------------------------ */

/* A medicine at a rate whose TM a responsible contract need not cover
 * (the parameters in force: 30 and 15 %). */
static bool pharma_tm_exempt(const struct line_ctx *c)
{
	const struct rules_responsible_params *r = c->ps.responsible;

	if (c->l->category != RULES_CAT_PHARMA)
		return false;
	for (int i = 0; i < r->n_pharma_tm_exempt_rates; i++)
		if (c->rate == r->pharma_tm_exempt_rates[i])
			return true;
	return false;
}

static void step_reference(struct line_ctx *c)
{
	const struct rules_line *l = c->l;

	c->room = l->charged_cents - c->amo_gross; /* >= 0: checked in step_amo */
	c->ref = c->amo_gross;
	if (c->responsible && !l->parcours && in(parcours_categories, l->category)) {
		/* The majoration outside the parcours stays with the patient. */
		c->ref = rules_pct(c->brss, c->ps.responsible->parcours_ref_rate);
		note(c, RULES_R_OUTSIDE_PARCOURS);
	}
	c->tm_mandatory = c->responsible && c->rate > 0 && !pharma_tm_exempt(c);
	c->tm = rules_max(0, rules_min(l->charged_cents, c->brss) - c->ref);
}

/* ---- step 5: renewal ----------------------------------------------------- */

static int renewal_months(const struct line_ctx *c)
{
	const struct rules_renewal_params *rn = c->ps.renewal;

	if (c->g->has & RULES_G_RENEWAL)
		return c->g->renewal_months;
	if (c->l->category == RULES_CAT_AUDIO)
		return rn->audio_months;
	return c->age < rn->glasses_child_under_age ? rn->glasses_child_months : rn->glasses_months;
}

/* Some equipment e of the category with e <= d < e + M months. Adding
 * months never reverses the order of two dates (the day clamped to the
 * month's end keeps it), so if any e blocks, the latest e on or before
 * d does: one look-up, not a scan of the equipments. */
static bool renewal_not_due(const struct line_ctx *c, const struct state *st)
{
	rules_date_t d = c->l->date, latest;

	if (!in(equipment_categories, c->l->category))
		return false;
	latest = equip_latest(&st->equip[c->l->category], d);
	return latest != 0 && d < rules_date_add_months(latest, renewal_months(c));
}

/* ---- step 6: the guarantee ---------------------------------------------- */

static bool non_optam_doctor(const struct line_ctx *c)
{
	return !c->l->optam && in(doctor_categories, c->l->category);
}

static void guarantee_frais_reels(struct line_ctx *c)
{
	note(c, RULES_R_FRAIS_REELS);
	c->amc = c->room;
	if (c->responsible && non_optam_doctor(c)) {
		int64_t max = rules_pct(c->brss, c->ps.responsible->non_optam_max_pct);
		int64_t lim = rules_max(0, rules_min(c->l->charged_cents, max) - c->ref);

		if (lim < c->amc) {
			c->amc = lim;
			note(c, RULES_R_NON_OPTAM_CAP);
		}
	}
}

/* The AMC of a percentage P, once the TM minimum has raised it. */
static int64_t pct_amc(const struct line_ctx *c, int64_t p)
{
	if (c->tm_mandatory && p < 100)
		p = 100;
	p = rules_max(p, 0);
	return rules_max(0, rules_min(c->l->charged_cents, rules_pct(c->brss, p)) - c->ref);
}

static void guarantee_pct(struct line_ctx *c)
{
	const struct rules_guarantee *g = c->g;
	const struct rules_responsible_params *rp = c->ps.responsible;
	int64_t p = g->pct_brss;

	note(c, RULES_R_GUARANTEE_PCT);
	if (non_optam_doctor(c)) {
		if ((g->has & RULES_G_NON_OPTAM) && g->non_optam_pct_brss != p) {
			p = g->non_optam_pct_brss;
			note(c, RULES_R_NON_OPTAM_PCT);
		}
		if (c->responsible) {
			int64_t cap = rules_min(rp->non_optam_max_pct,
						g->pct_brss - rp->non_optam_gap_points);

			/* Named only when the lower P lowers the AMC: charged
			 * at or below the capped percentage of the BRSS, the
			 * cap changes nothing. */
			if (p > cap) {
				if (pct_amc(c, cap) < pct_amc(c, p))
					note(c, RULES_R_NON_OPTAM_CAP);
				p = cap;
			}
		}
	}
	if (c->tm_mandatory && p < 100)
		note(c, RULES_R_TM_PCT_MIN);
	c->amc = pct_amc(c, p);
}

static void guarantee_per_act(struct line_ctx *c)
{
	const struct rules_guarantee *g = c->g;
	int64_t units = c->l->quantity;

	if (g->has & RULES_G_MAX_ACTS) {
		int64_t left = rules_max(0, g->max_acts_per_year - c->year->units[c->l->category]);

		if (left < units) {
			units = left;
			note(c, RULES_R_MAX_ACTS_REACHED);
		}
	}
	c->amc = rules_min(c->room, g->per_act_cents * units);
	c->forfait = c->amc;
	if (units > 0)
		note(c, RULES_R_PER_ACT_FORFAIT);
}

static void guarantee_none(struct line_ctx *c)
{
	/* An envelope alone is a guarantee: say what decided, not "none". */
	if (!(c->g->has & RULES_G_ANNUAL))
		note(c, RULES_R_NO_GUARANTEE);
	if (c->tm_mandatory) {
		c->amc = c->tm;
		if (c->tm > 0)
			note(c, RULES_R_TM_MANDATORY);
	}
}

static void step_envelope(struct line_ctx *c)
{
	enum rules_category cat = c->l->category;
	int64_t left, want, add;

	if (!(c->g->has & RULES_G_ANNUAL))
		return;
	left = rules_max(0, c->g->annual_cents - c->year->forfait[cat]);
	want = rules_max(0, c->room - c->amc);
	add = rules_min(left, want);
	if (add > 0) {
		c->amc += add;
		c->forfait += add;
		note(c, RULES_R_ANNUAL_ENVELOPE);
	} else if (want > 0) {
		note(c, RULES_R_ANNUAL_ENVELOPE_USED_UP);
	}
}

static void step_guarantee(struct line_ctx *c)
{
	switch (c->g->form) {
	case RULES_FORM_FRAIS_REELS:
		guarantee_frais_reels(c);
		break;
	case RULES_FORM_PCT:
		guarantee_pct(c);
		break;
	case RULES_FORM_PER_ACT:
		guarantee_per_act(c);
		break;
	case RULES_FORM_EQUIPMENT:
		note(c, RULES_R_EQUIPMENT_FORFAIT);
		c->amc = rules_max(0, rules_min(c->l->charged_cents, c->g->equipment_cents) -
					      c->amo_gross);
		break;
	case RULES_FORM_NONE:
		guarantee_none(c);
		break;
	}
	step_envelope(c);
}

/* ---- step 7: caps -------------------------------------------------------- */

static void cap(struct line_ctx *c, int64_t limit, enum rules_rule rule)
{
	limit = rules_max(0, limit);
	if (c->amc > limit) {
		lower_amc(c, limit);
		note(c, rule);
	}
}

static void cap_optics(struct line_ctx *c)
{
	const struct rules_optics_params *o = c->ps.optics;
	const struct rules_line *l = c->l;
	int64_t ceiling = o->ceiling_cents[l->lenses[0] - 1][l->lenses[1] - 1];
	int64_t frame_excess = rules_max(0, l->frame_charged_cents - o->frame_cap_cents);

	cap(c, ceiling - c->amo_gross, RULES_R_OPTICS_CEILING);
	cap(c, l->charged_cents - frame_excess - c->amo_gross, RULES_R_FRAME_CAP);
}

static void step_caps(struct line_ctx *c)
{
	enum rules_category cat = c->l->category;
	bool basket = c->l->basket == RULES_BASKET_100PS;

	if (c->g->has & RULES_G_ANNUAL_CAP)
		cap(c, c->g->annual_cap_cents - c->year->amc[cat], RULES_R_ANNUAL_CAP);
	if (!c->responsible || basket)
		return;
	if (cat == RULES_CAT_OPTIQUE_EQUIPEMENT)
		cap_optics(c);
	else if (cat == RULES_CAT_AUDIO)
		cap(c, c->ps.audio->class2_ceiling_cents - c->amo_gross, RULES_R_AUDIO_CEILING);
}

/* ---- step 8: floors of a responsible contract ---------------------------- */

static void step_floors(struct line_ctx *c)
{
	const struct rules_line *l = c->l;

	if (!c->responsible)
		return;
	if (c->tm_mandatory && c->amc < c->tm) {
		set_amc(c, c->tm);
		note(c, RULES_R_TM_FLOOR);
	}
	if (l->category == RULES_CAT_HOSP_FJH) {
		set_amc(c, c->room);
		note(c, RULES_R_FJH_FULL);
	}
	if (l->basket == RULES_BASKET_100PS && in(basket_categories, l->category)) {
		set_amc(c,
			rules_max(0, rules_min(l->charged_cents, c->price_limit) - c->amo_gross));
		note(c, RULES_R_100PS);
	}
}

/* ---- one line ------------------------------------------------------------ */

static void account(struct state *st, struct line_ctx *c)
{
	const struct rules_line *l = c->l;
	struct rules_line_result *r = c->r;

	c->year->pf += r->pf_cents;
	c->year->franchise += r->franchise_cents;
	c->year->amc[l->category] += r->amc_cents;
	c->year->forfait[l->category] += r->forfait_cents;
	if (r->forfait_cents > 0)
		c->year->units[l->category] += l->quantity;
	c->day->pf += r->pf_cents;
	if (l->category == RULES_CAT_AUXILIAIRE)
		c->day->franchise_auxiliaire += r->franchise_cents;
	else if (l->category == RULES_CAT_TRANSPORT)
		c->day->franchise_transport += r->franchise_cents;
	if (rules_history_equipment_default(l->category, r->amc_cents))
		equip_add(&st->equip[l->category], l->date);
}

static void line_start(struct line_ctx *c, const struct rules_request *req,
		       const struct rules_line *l, struct state *st, struct rules_line_result *r)
{
	memset(r, 0, sizeof *r);
	memset(c, 0, sizeof *c);
	c->l = l;
	c->r = r;
	c->g = &req->contract->g[l->category];
	c->responsible = req->contract->responsible;
	c->year = year_find(st, l->date);
	c->day = day_find(st, l->date);
	c->age = rules_age(req->beneficiary.birth_date, l->date);
}

static int compute_line(const struct rules_params *p, const struct rules_request *req, size_t i,
			struct state *st, struct rules_line_result *r, struct rules_error *err)
{
	const struct rules_line *l = &req->lines[i];
	struct line_ctx c;

	line_start(&c, req, l, st, r);
	c.index = i;
	if (line_params(&c, p, err) != RULES_OK || step_amo(&c, p, err) != RULES_OK)
		return RULES_ERR;
	c.exempt_pf = withholding_exempt(req->beneficiary.exempt, c.age, c.ps.pf->exempt_under_age);
	c.exempt_franchise = withholding_exempt(req->beneficiary.exempt, c.age,
						c.ps.franchise->exempt_under_age);
	step_pf(&c);
	step_franchise(&c);
	step_reference(&c);
	if (renewal_not_due(&c, st)) {
		note(&c, RULES_R_RENEWAL_NOT_DUE); /* the AMC pays 0; steps 6-8 skipped */
	} else {
		step_guarantee(&c);
		step_caps(&c);
		step_floors(&c);
	}
	if (c.amc > c.room) { /* step 9 */
		lower_amc(&c, c.room);
		note(&c, RULES_R_ROOM_CLAMP);
	}
	r->charged_cents = l->charged_cents;
	r->brss_cents = c.brss;
	r->amo_rate = c.rate;
	r->amo_gross_cents = c.amo_gross;
	r->amo_paid_cents = c.amo_gross - r->pf_cents - r->franchise_cents;
	r->amc_cents = c.amc;
	r->forfait_cents = c.forfait;
	r->rac_cents = l->charged_cents - r->amo_paid_cents - c.amc;
	account(st, &c);
	return RULES_OK;
}

/* ---- the request ------------------------------------------------------- */

static int compute_all(const struct rules_params *p, const struct rules_request *req,
		       struct state *st, struct rules_line_result *out, struct rules_totals *totals,
		       struct rules_error *err)
{
	memset(totals, 0, sizeof *totals);
	index_days(st, req);
	load_history(st, req);
	index_equipment(st, req);
	for (size_t i = 0; i < req->n_lines; i++) {
		if (compute_line(p, req, i, st, &out[i], err) != RULES_OK)
			return RULES_ERR;
		totals->charged_cents += out[i].charged_cents;
		totals->amo_paid_cents += out[i].amo_paid_cents;
		totals->amc_cents += out[i].amc_cents;
		totals->rac_cents += out[i].rac_cents;
	}
	return RULES_OK;
}

int rules_compute(const struct rules_params *p, const struct rules_request *req,
		  struct rules_line_result *out, struct rules_totals *totals,
		  struct rules_error *err)
{
	_Alignas(16) unsigned char stack[STACK_ARENA];
	unsigned char *arena = stack;
	struct state st;
	uint32_t hash_size = 16;
	size_t size;
	int rc;

	if (rules_request_check(req, err) != RULES_OK)
		return RULES_ERR;
	st.n_years = index_years(&st, req);
	while (hash_size < 2 * req->n_lines)
		hash_size *= 2;
	st.hash_mask = hash_size - 1;
	count_equipment(&st, req);
	size = arena_layout(&st, req, hash_size, NULL);
	if (size > sizeof stack) {
		arena = malloc(size);
		if (arena == NULL)
			return rules_error_at(err, "lines", NULL, "out of memory (%zu bytes)",
					      size);
	}
	arena_layout(&st, req, hash_size, arena);
	rc = compute_all(p, req, &st, out, totals, err);
	if (arena != stack)
		free(arena);
	return rc;
}
