/*
 * NAME
 *	claimctl_bench_engine.c - lines per second of the rules engine
 *
 * SYNOPSIS
 *	claimctl bench-engine [--requests N] [--runs R] [--params FILE]
 *
 * DESCRIPTION
 *	Measures rules_compute() alone, on one thread: no JSON, no I/O,
 *	requests built in memory beforehand as the reimbursement daemon
 *	builds them. The mix is meant to look like a real year: a pool of
 *	1000 beneficiaries (ages from 2 to 85, a few exempt) on four
 *	formulas (responsible or not, percentages, frais réels, forfaits,
 *	equipment, envelopes, caps), each with a year of history (30 to 50
 *	items) and a claim of 10 lines of mixed categories, a third of them
 *	priced from the act table. Each run computes N requests (cycling
 *	through the pool); the command prints every run, then the median,
 *	minimum and maximum in lines per second, and the command line to
 *	reproduce the figure (docs/performance.md).
 *
 * DIAGNOSTICS
 *	Exit 0; 2 on bad usage; 1 when the parameters cannot be loaded or a
 *	generated request is refused (which would be a bug of this file).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "claimctl/claimctl.h"
#include "common/params.h"
#include "common/util.h"
#include "rules/rules.h"

#define POOL	    1000
#define LINES	    10
#define MAX_HISTORY 50
#define MAX_RUNS    101

/* Shared with simulate (claimctl_simulate.c). */

struct bench_request {
	struct rules_request req;
	struct rules_line lines[LINES];
	struct rules_history_item history[MAX_HISTORY];
};

/* splitmix64: a deterministic generator with no global state. */
static uint64_t next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int pick(uint64_t *s, int n)
{
	return (int)(next(s) % (uint64_t)n);
}

static void pct(struct rules_contract *c, enum rules_category cat, int p, int non_optam)
{
	c->g[cat].form = RULES_FORM_PCT;
	c->g[cat].pct_brss = p;
	if (non_optam > 0) {
		c->g[cat].has |= RULES_G_NON_OPTAM;
		c->g[cat].non_optam_pct_brss = non_optam;
	}
}

static void per_act(struct rules_contract *c, enum rules_category cat, int64_t a, int max)
{
	c->g[cat].form = RULES_FORM_PER_ACT;
	c->g[cat].per_act_cents = a;
	if (max > 0) {
		c->g[cat].has |= RULES_G_MAX_ACTS;
		c->g[cat].max_acts_per_year = max;
	}
}

/* Four formulas in the spirit of deploy/formulas/. */
static void make_contracts(struct rules_contract c[4])
{
	for (int k = 0; k < 4; k++) {
		rules_contract_init(&c[k], k != 3);
		for (int cat = 0; cat < RULES_CAT_COUNT; cat++)
			pct(&c[k], (enum rules_category)cat, 100 + 50 * k, 0);
		pct(&c[k], RULES_CAT_CONSULT_SPEC, 150 + 50 * k, 130 + 50 * k);
		pct(&c[k], RULES_CAT_CONSULT_GP, 150 + 50 * k, 130 + 50 * k);
		c[k].g[RULES_CAT_HOSP_FJH].form = RULES_FORM_FRAIS_REELS;
		per_act(&c[k], RULES_CAT_HOSP_CHAMBRE, 4000 + 1000 * k, 0);
		per_act(&c[k], RULES_CAT_MEDECINE_DOUCE, 2500 + 500 * k, 3 + k);
		c[k].g[RULES_CAT_DENT_PROTHESE].has |= RULES_G_ANNUAL_CAP;
		c[k].g[RULES_CAT_DENT_PROTHESE].annual_cap_cents = 100000 + 50000 * k;
		c[k].g[RULES_CAT_OPTIQUE_EQUIPEMENT].form = RULES_FORM_EQUIPMENT;
		c[k].g[RULES_CAT_OPTIQUE_EQUIPEMENT].equipment_cents = 20000 + 10000 * k;
		c[k].g[RULES_CAT_OPTIQUE_LENTILLES].has |= RULES_G_ANNUAL;
		c[k].g[RULES_CAT_OPTIQUE_LENTILLES].annual_cents = 10000 + 5000 * k;
		c[k].g[RULES_CAT_AUDIO].has |= RULES_G_ANNUAL;
		c[k].g[RULES_CAT_AUDIO].annual_cents = 30000 + 10000 * k;
	}
	c[2].g[RULES_CAT_RADIOLOGIE].form = RULES_FORM_FRAIS_REELS;
	c[3].g[RULES_CAT_HOSP_HONORAIRES].form = RULES_FORM_FRAIS_REELS;
}

/* Categories weighted roughly as claims arrive: pharmacy and GPs first. */
static const enum rules_category mix[] = {
	RULES_CAT_PHARMA,
	RULES_CAT_PHARMA,
	RULES_CAT_PHARMA,
	RULES_CAT_CONSULT_GP,
	RULES_CAT_CONSULT_GP,
	RULES_CAT_CONSULT_SPEC,
	RULES_CAT_AUXILIAIRE,
	RULES_CAT_BIOLOGIE,
	RULES_CAT_RADIOLOGIE,
	RULES_CAT_DENT_SOINS,
	RULES_CAT_DENT_PROTHESE,
	RULES_CAT_TRANSPORT,
	RULES_CAT_HOSP_HONORAIRES,
	RULES_CAT_HOSP_FJH,
	RULES_CAT_HOSP_CHAMBRE,
	RULES_CAT_OPTIQUE_EQUIPEMENT,
	RULES_CAT_OPTIQUE_LENTILLES,
	RULES_CAT_AUDIO,
	RULES_CAT_MEDECINE_DOUCE,
	RULES_CAT_TELECONSULT,
};

static int amo_rate_of(enum rules_category cat, uint64_t *s)
{
	static const int pharma[] = {65, 65, 30, 100, 15};

	switch (cat) {
	case RULES_CAT_PHARMA:
		return pharma[pick(s, 5)];
	case RULES_CAT_CONSULT_GP:
	case RULES_CAT_CONSULT_SPEC:
	case RULES_CAT_TELECONSULT:
	case RULES_CAT_RADIOLOGIE:
	case RULES_CAT_HOSP_HONORAIRES:
		return 70;
	case RULES_CAT_HOSP_FJH:
	case RULES_CAT_HOSP_CHAMBRE:
	case RULES_CAT_MEDECINE_DOUCE:
		return 0;
	case RULES_CAT_HOSP_SEJOUR:
		return 80;
	default:
		return 60;
	}
}

static void priced_line(struct rules_line *l, uint64_t *s)
{
	int64_t brss = 500 + pick(s, 20000);

	l->amo_rate = amo_rate_of(l->category, s);
	if (l->amo_rate == 0)
		brss = 0;
	if (l->category == RULES_CAT_OPTIQUE_EQUIPEMENT)
		brss = 15;
	l->brss_cents = brss;
	l->charged_cents = brss + (pick(s, 3) == 0 ? 0 : pick(s, 30000));
	l->given = RULES_GIVEN_BRSS | RULES_GIVEN_AMO_RATE;
	if (l->category == RULES_CAT_OPTIQUE_EQUIPEMENT) {
		l->lenses[0] = RULES_LENS_SIMPLE + pick(s, 3);
		l->lenses[1] = RULES_LENS_SIMPLE + pick(s, 3);
		l->frame_charged_cents = pick(s, (int)l->charged_cents / 2 + 1);
		l->basket = RULES_BASKET_LIBRE;
	}
	if (l->category == RULES_CAT_DENT_PROTHESE && pick(s, 3) == 0) {
		l->basket = RULES_BASKET_100PS;
		l->price_limit_cents = brss + pick(s, 40000);
		l->charged_cents = l->price_limit_cents;
		l->given |= RULES_GIVEN_PRICE_LIMIT;
	}
}

/* A third of GP, nurse and crown lines name an act code instead. */
static bool act_line(struct rules_line *l, uint64_t *s)
{
	if (pick(s, 3) != 0)
		return false;
	if (l->category == RULES_CAT_CONSULT_GP) {
		l->act = "G";
		l->charged_cents = 3000 + (pick(s, 4) == 0 ? 2000 : 0);
	} else if (l->category == RULES_CAT_AUXILIAIRE) {
		l->act = pick(s, 2) ? "AMI" : "AIS";
		l->quantity = 1 + pick(s, 4);
		l->charged_cents = 315 * l->quantity;
	} else if (l->category == RULES_CAT_DENT_PROTHESE) {
		l->act = "HBLD634";
		l->basket = RULES_BASKET_100PS;
		l->charged_cents = 50000;
	} else {
		return false;
	}
	return true;
}

static void make_line(struct rules_line *l, int i, uint64_t *s)
{
	static char ids[LINES][4] = {"L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9", "L10"};

	rules_line_init(l);
	l->id = ids[i];
	l->date = rules_date_ymd(2026, 6 + pick(s, 6), 1 + pick(s, 28));
	l->category = mix[pick(s, (int)(sizeof mix / sizeof mix[0]))];
	l->optam = pick(s, 4) != 0;
	l->parcours = pick(s, 10) != 0;
	if (l->category == RULES_CAT_PHARMA || l->category == RULES_CAT_AUXILIAIRE)
		l->quantity = 1 + pick(s, 4);
	if (!act_line(l, s))
		priced_line(l, s);
}

static void make_history(struct rules_history_item *h, uint64_t *s)
{
	rules_history_init(h);
	h->date = rules_date_ymd(2025 + pick(s, 2), 1 + pick(s, 12), 1 + pick(s, 28));
	h->category = mix[pick(s, (int)(sizeof mix / sizeof mix[0]))];
	h->pf_cents = pick(s, 3) == 0 ? 200 : 0;
	h->franchise_cents = pick(s, 3) == 0 ? 100 * (1 + pick(s, 3)) : 0;
	h->amc_cents = pick(s, 5000);
	h->forfait_cents = pick(s, 6) == 0 ? h->amc_cents : 0;
	h->quantity = 1 + pick(s, 3);
	h->equipment = rules_history_equipment_default(h->category, h->amc_cents);
}

static void make_request(struct bench_request *b, const struct rules_contract *contracts,
			 uint64_t *s)
{
	size_t n_history = 30 + (size_t)pick(s, 21);

	b->req.beneficiary.birth_date =
		rules_date_ymd(1940 + pick(s, 84), 1 + pick(s, 12), 1 + pick(s, 28));
	b->req.beneficiary.exempt = pick(s, 20) == 0 ? RULES_EXEMPT_C2S : 0;
	b->req.contract = &contracts[pick(s, 4)];
	for (int i = 0; i < LINES; i++)
		make_line(&b->lines[i], i, s);
	for (size_t i = 0; i < n_history; i++)
		make_history(&b->history[i], s);
	b->req.lines = b->lines;
	b->req.n_lines = LINES;
	b->req.history = b->history;
	b->req.n_history = n_history;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One run: lines per second, or -1 when a request is refused. */
static double run(const struct rules_params *p, const struct bench_request *pool, long requests,
		  int64_t *checksum)
{
	struct rules_line_result res[LINES];
	struct rules_totals totals;
	struct rules_error err;
	double t0 = now_seconds(), dt;

	for (long i = 0; i < requests; i++) {
		const struct bench_request *b = &pool[i % POOL];

		if (rules_compute(p, &b->req, res, &totals, &err) != RULES_OK) {
			fprintf(stderr, "bench-engine: request %ld refused: %s: %s\n", i % POOL,
				err.field, err.reason);
			return -1;
		}
		*checksum += totals.amc_cents;
	}
	dt = now_seconds() - t0;
	return (double)requests * LINES / (dt > 0 ? dt : 1e-9);
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct options {
	long requests;
	int runs;
	const char *params;
};

static long number(const char *s, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return -1;
	return v;
}

/* 0, 1 for --help, -1 on bad usage. */
static int parse_args(int argc, char **argv, struct options *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (claimctl_is_help(a))
			return 1;
		if (strcmp(a, "--requests") == 0 && v != NULL)
			o->requests = number(v, 100000000L);
		else if (strcmp(a, "--runs") == 0 && v != NULL)
			o->runs = (int)number(v, MAX_RUNS);
		else if (strcmp(a, "--params") == 0 && v != NULL)
			o->params = v;
		else {
			fprintf(stderr, "bench-engine: unexpected argument '%s' (try --help)\n", a);
			return -1;
		}
		i++;
		if (o->requests < 0 || o->runs < 0) {
			fprintf(stderr, "bench-engine: %s needs a positive number\n", a);
			return -1;
		}
	}
	return 0;
}

static void report(double *rates, const struct options *o, int64_t checksum)
{
	qsort(rates, (size_t)o->runs, sizeof *rates, compare);
	printf("lines/s (1 thread): median %.0f  min %.0f  max %.0f  (%d runs, checksum %lld)\n",
	       rates[o->runs / 2], rates[0], rates[o->runs - 1], o->runs, (long long)checksum);
	printf("command: claimctl bench-engine --requests %ld --runs %d\n", o->requests, o->runs);
}

static int bench(const struct rules_params *p, const struct options *o)
{
	struct rules_contract contracts[4];
	struct bench_request *pool = calloc(POOL, sizeof *pool);
	double rates[MAX_RUNS];
	int64_t checksum = 0;
	uint64_t seed = 20260101;

	if (pool == NULL) {
		fprintf(stderr, "bench-engine: out of memory\n");
		return 1;
	}
	make_contracts(contracts);
	for (int i = 0; i < POOL; i++)
		make_request(&pool[i], contracts, &seed);
	printf("bench-engine: %d lines a request, 30-50 history items, %ld requests a run\n", LINES,
	       o->requests);
	run(p, pool, POOL, &checksum); /* warm the caches */
	checksum = 0;
	for (int r = 0; r < o->runs; r++) {
		rates[r] = run(p, pool, o->requests, &checksum);
		if (rates[r] < 0) {
			free(pool);
			return 1;
		}
		printf("run %d: %.0f lines/s\n", r + 1, rates[r]);
	}
	report(rates, o, checksum);
	free(pool);
	return 0;
}

int cmd_bench_engine(int argc, char **argv)
{
	struct options o = {200000, 7, NULL};
	struct rules_params *p;
	int rc = parse_args(argc, argv, &o);

	if (rc != 0) {
		if (rc > 0)
			printf("Usage: claimctl bench-engine [--requests N] [--runs R] "
			       "[--params FILE]\n\n"
			       "Lines computed per second by the rules engine on one thread\n"
			       "(%d lines a request; default 200000 requests, 7 runs).\n",
			       LINES);
		return rc > 0 ? 0 : EXIT_USAGE;
	}
	p = malloc(sizeof *p);
	if (p == NULL || params_load(o.params, p) != OK) {
		free(p);
		return 1;
	}
	rc = bench(p, &o);
	free(p);
	return rc;
}
