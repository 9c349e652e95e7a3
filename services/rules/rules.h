/*
 * NAME
 *	rules.h - the reimbursement rules engine, version 1 (public API)
 *
 * SYNOPSIS
 *	#include "rules/rules.h"
 *
 *	struct rules_params *p;		(loaded once, see rules_json.h)
 *	struct rules_contract c;	rules_contract_init(&c, true);
 *	struct rules_line l[n];		rules_line_init(&l[i]); ...
 *	struct rules_request req = { .beneficiary = b, .contract = &c,
 *		.history = h, .n_history = nh, .lines = l, .n_lines = n };
 *	struct rules_line_result res[n];
 *	struct rules_totals tot;
 *	struct rules_error err;
 *
 *	if (rules_compute(p, &req, res, &tot, &err) != RULES_OK)
 *		reject(err.field, err.reason);
 *
 * DESCRIPTION
 *	A pure library: given a beneficiary, a contract (one guarantee per
 *	category of care), the beneficiary's earlier computed lines (the
 *	history) and the lines of a claim, it computes per line the AMO
 *	share, the participation forfaitaire (PF), the franchise, the AMC
 *	share (us) and the reste à charge, with the names of the rules that
 *	decided each amount. The rules are those of docs/rules.md, which
 *	follows the domain reference section 5 step by step.
 *
 *	The library does no I/O, reads no clock, keeps no global mutable
 *	state and allocates nothing per line: rules_compute() works in a
 *	per-call arena (on its stack for ordinary claims, one malloc for very
 *	large ones). Money is int64 cents, rates and percentages integer
 *	percent, dates the integer YYYYMMDD (rules_date_t).
 *
 *	Lines are computed in request order and each computed line joins the
 *	history of the next ones (caps, envelopes, renewals). For every line
 *	charged = amo_paid + amc + rac.
 *
 * DIAGNOSTICS
 *	Fallible functions return RULES_OK (0) or RULES_ERR (-1) and are
 *	RULES_MUST_CHECK. On RULES_ERR the caller's struct rules_error names
 *	the field as a JSON path of the simulate request (for instance
 *	"lines[2].charged_cents") and the reason. The library never logs.
 */
#ifndef RULES_RULES_H
#define RULES_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_OK	 0
#define RULES_ERR	 (-1)
#define RULES_MUST_CHECK __attribute__((warn_unused_result))

/* Bounds that keep every product of the rules far from int64 overflow. */
#define RULES_MAX_CENTS	   1000000000000LL /* 10 000 000 000 euros */
#define RULES_MAX_PCT	   10000	   /* 100 times the BRSS */
#define RULES_MAX_QUANTITY 10000
#define RULES_MAX_LINES	   10000
#define RULES_MAX_HISTORY  100000
/* Renewal periods: the daemons read the equipments of the last five
 * years (reimburse_batch.c); a longer period would miss the one bought
 * before them, and pay again. Legal periods are 1, 2 and 4 years. */
#define RULES_MAX_RENEWAL_MONTHS 60
#define RULES_MIN_YEAR		 1900
#define RULES_MAX_YEAR		 2199

struct rules_error {
	char field[128];
	char reason[160];
	int line; /* the index of the line at fault in the request's lines; -1: none */
};

/* ------------------------------------------------------------------ */
/* Dates: the integer YYYYMMDD, so that < and == compare calendar days. */

typedef int32_t rules_date_t;

rules_date_t rules_date_ymd(int year, int month, int day);
static inline int rules_date_year(rules_date_t d)
{
	return d / 10000;
}
bool rules_date_valid(rules_date_t d);
/* "YYYY-MM-DD" exactly, a real calendar day between 1900 and 2199. */
RULES_MUST_CHECK int rules_date_parse(const char *s, rules_date_t *out);
/* Writes "YYYY-MM-DD" and a NUL into buf[11]. */
void rules_date_format(rules_date_t d, char buf[11]);
/* Whole years completed on `on` by someone born on `birth`. */
int rules_age(rules_date_t birth, rules_date_t on);
/* d plus n months; the day is clamped to the end of a shorter month. */
rules_date_t rules_date_add_months(rules_date_t d, int months);
/* From days since 1970-01-01 (the representation of services/common). */
rules_date_t rules_date_from_days(int32_t days);
/* To days since 1970-01-01; the inverse of rules_date_from_days(). */
int32_t rules_date_to_days(rules_date_t date);

/* ------------------------------------------------------------------ */
/* Names of the request's enumerations (exact spelling of section 4). */

enum rules_category {
	RULES_CAT_CONSULT_GP,
	RULES_CAT_CONSULT_SPEC,
	RULES_CAT_TELECONSULT,
	RULES_CAT_AUXILIAIRE,
	RULES_CAT_BIOLOGIE,
	RULES_CAT_RADIOLOGIE,
	RULES_CAT_PHARMA,
	RULES_CAT_TRANSPORT,
	RULES_CAT_HOSP_SEJOUR,
	RULES_CAT_HOSP_HONORAIRES,
	RULES_CAT_HOSP_FJH,
	RULES_CAT_HOSP_CHAMBRE,
	RULES_CAT_DENT_SOINS,
	RULES_CAT_DENT_PROTHESE,
	RULES_CAT_DENT_ORTHO,
	RULES_CAT_OPTIQUE_EQUIPEMENT,
	RULES_CAT_OPTIQUE_LENTILLES,
	RULES_CAT_AUDIO,
	RULES_CAT_MEDECINE_DOUCE,
	RULES_CAT_URGENCES_FPU,
	RULES_CAT_COUNT
};

enum rules_basket {
	RULES_BASKET_NONE, /* not given */
	RULES_BASKET_100PS,
	RULES_BASKET_MAITRISE,
	RULES_BASKET_LIBRE,
};

enum rules_lens {
	RULES_LENS_NONE, /* not given */
	RULES_LENS_SIMPLE,
	RULES_LENS_COMPLEX,
	RULES_LENS_VERY_COMPLEX,
};
#define RULES_LENS_KINDS 3

#define RULES_EXEMPT_C2S       0x1u
#define RULES_EXEMPT_MATERNITY 0x2u

/* NULL when unknown; the lookups return RULES_ERR for an unknown name. */
const char *rules_category_name(int cat);
RULES_MUST_CHECK int rules_category_parse(const char *s, enum rules_category *out);
const char *rules_basket_name(int basket);
RULES_MUST_CHECK int rules_basket_parse(const char *s, enum rules_basket *out);
const char *rules_lens_name(int lens);
RULES_MUST_CHECK int rules_lens_parse(const char *s, enum rules_lens *out);
RULES_MUST_CHECK int rules_exempt_parse(const char *s, unsigned *flag);

/* ------------------------------------------------------------------ */
/* The rules a line can name, in the order the engine applies them.    */

enum rules_rule {
	RULES_R_ACT_TARIFF,
	RULES_R_PF,
	RULES_R_PF_DAILY_CAP,
	RULES_R_PF_ANNUAL_CAP,
	RULES_R_PF_EXEMPT,
	RULES_R_FRANCHISE,
	RULES_R_FRANCHISE_DAILY_CAP,
	RULES_R_FRANCHISE_ANNUAL_CAP,
	RULES_R_FRANCHISE_EXEMPT,
	RULES_R_OUTSIDE_PARCOURS,
	RULES_R_RENEWAL_NOT_DUE,
	RULES_R_NO_GUARANTEE,
	RULES_R_TM_MANDATORY,
	RULES_R_GUARANTEE_PCT,
	RULES_R_NON_OPTAM_PCT,
	RULES_R_NON_OPTAM_CAP,
	RULES_R_TM_PCT_MIN,
	RULES_R_FRAIS_REELS,
	RULES_R_PER_ACT_FORFAIT,
	RULES_R_MAX_ACTS_REACHED,
	RULES_R_EQUIPMENT_FORFAIT,
	RULES_R_ANNUAL_ENVELOPE,
	RULES_R_ANNUAL_ENVELOPE_USED_UP,
	RULES_R_ANNUAL_CAP,
	RULES_R_OPTICS_CEILING,
	RULES_R_FRAME_CAP,
	RULES_R_AUDIO_CEILING,
	RULES_R_TM_FLOOR,
	RULES_R_FJH_FULL,
	RULES_R_100PS,
	RULES_R_ROOM_CLAMP,
	RULES_R_COUNT
};

/* Every rule fires at most once per line, so the trace fits. */
#define RULES_TRACE_MAX RULES_R_COUNT

const char *rules_rule_name(int rule);
RULES_MUST_CHECK int rules_rule_parse(const char *s, enum rules_rule *out);

/* ------------------------------------------------------------------ */
/* Dated parameters (deploy/params/parameters.json; see rules_json.h to
 * load them). Each group holds one or more versions, sorted by `since`;
 * the version in force on a date is the latest one whose since <= date. */

#define RULES_MAX_VERSIONS 16
#define RULES_MAX_ACTS	   256
#define RULES_ACT_CODE_MAX 16

struct rules_pf_params {
	rules_date_t since;
	int64_t per_act_cents;
	int64_t daily_cap_cents;
	int64_t annual_cap_cents;
	int32_t exempt_under_age;
};

struct rules_franchise_params {
	rules_date_t since;
	int64_t pharma_per_unit_cents;
	int64_t auxiliaire_per_unit_cents;
	int64_t auxiliaire_daily_cap_cents;
	int64_t transport_per_trip_cents;
	int64_t transport_daily_cap_cents;
	int64_t annual_cap_cents;
	int32_t exempt_under_age;
};

struct rules_fjh_params {
	rules_date_t since;
	int64_t per_day_cents;
	int64_t psychiatry_per_day_cents;
};

struct rules_fpu_params {
	rules_date_t since;
	int64_t amount_cents;
	int64_t reduced_cents;
};

struct rules_optics_params {
	rules_date_t since;
	int64_t class_b_brss_cents;
	/* AMO+AMC ceiling per lens pair, indexed [lens - 1][lens - 1]. */
	int64_t ceiling_cents[RULES_LENS_KINDS][RULES_LENS_KINDS];
	int64_t frame_cap_cents;
};

struct rules_audio_params {
	rules_date_t since;
	int64_t class2_ceiling_cents;
};

struct rules_renewal_params {
	rules_date_t since;
	int32_t glasses_months;
	int32_t glasses_child_months;
	int32_t glasses_child_under_age;
	int32_t audio_months;
};

#define RULES_MAX_EXEMPT_RATES 4

struct rules_responsible_params {
	rules_date_t since;
	int32_t non_optam_max_pct;    /* 200 % BRSS */
	int32_t non_optam_gap_points; /* 20 points below the OPTAM cover */
	int32_t parcours_ref_rate;    /* 70 %: the AMO rate inside the parcours */
	/* AMO rates of medicines whose TM the contract need not cover (30
	 * and 15 %: a medical service rendered moderate or low). */
	int32_t pharma_tm_exempt_rates[RULES_MAX_EXEMPT_RATES];
	int32_t n_pharma_tm_exempt_rates;
};

struct rules_act {
	char code[RULES_ACT_CODE_MAX];
	enum rules_category category;
	rules_date_t since;
	int32_t under_age; /* 0: any age; N: only for beneficiaries under N */
	int64_t brss_cents;
	int32_t amo_rate;
	int32_t amo_rate_outside_parcours; /* -1: same as amo_rate */
	int64_t price_limit_cents;	   /* -1: none */
};

struct rules_params {
	int n_pf, n_franchise, n_fjh, n_fpu, n_optics, n_audio, n_renewal;
	int n_responsible, n_acts;
	struct rules_pf_params pf[RULES_MAX_VERSIONS];
	struct rules_franchise_params franchise[RULES_MAX_VERSIONS];
	struct rules_fjh_params fjh[RULES_MAX_VERSIONS];
	struct rules_fpu_params fpu[RULES_MAX_VERSIONS];
	struct rules_optics_params optics[RULES_MAX_VERSIONS];
	struct rules_audio_params audio[RULES_MAX_VERSIONS];
	struct rules_renewal_params renewal[RULES_MAX_VERSIONS];
	struct rules_responsible_params responsible[RULES_MAX_VERSIONS];
	struct rules_act acts[RULES_MAX_ACTS];
};

/* The versions in force on one date. */
struct rules_param_set {
	const struct rules_pf_params *pf;
	const struct rules_franchise_params *franchise;
	const struct rules_fjh_params *fjh;
	const struct rules_fpu_params *fpu;
	const struct rules_optics_params *optics;
	const struct rules_audio_params *audio;
	const struct rules_renewal_params *renewal;
	const struct rules_responsible_params *responsible;
};

/* Fills set with the versions in force on `date` (NULL for a group that
 * has none); RULES_ERR then names the first such group in err->field. */
RULES_MUST_CHECK int rules_params_at(const struct rules_params *p, rules_date_t date,
				     struct rules_param_set *set, struct rules_error *err);
/* The tariff of `code` on `date` for a beneficiary of `age`, or NULL. */
const struct rules_act *rules_params_act(const struct rules_params *p, const char *code,
					 rules_date_t date, int age);

/* ------------------------------------------------------------------ */
/* The request.                                                        */

enum rules_form {
	RULES_FORM_NONE, /* no guarantee (or an annual envelope only) */
	RULES_FORM_PCT,
	RULES_FORM_FRAIS_REELS,
	RULES_FORM_PER_ACT,
	RULES_FORM_EQUIPMENT,
};

/* Optional members of a guarantee, in rules_guarantee.has. */
#define RULES_G_NON_OPTAM  0x01u
#define RULES_G_MAX_ACTS   0x02u
#define RULES_G_RENEWAL	   0x04u
#define RULES_G_ANNUAL	   0x08u
#define RULES_G_ANNUAL_CAP 0x10u

struct rules_guarantee {
	enum rules_form form;
	unsigned has;
	int32_t pct_brss;
	int32_t non_optam_pct_brss;
	int64_t per_act_cents;
	int32_t max_acts_per_year;
	int64_t equipment_cents;
	int32_t renewal_months;
	int64_t annual_cents;
	int64_t annual_cap_cents;
};

struct rules_contract {
	bool responsible;
	struct rules_guarantee g[RULES_CAT_COUNT];
};

struct rules_beneficiary {
	rules_date_t birth_date;
	unsigned exempt; /* RULES_EXEMPT_* */
};

/* What a history item counts in. An earlier line (or a day's sum of
 * them) counts in everything: its calendar year's totals, its day's, and
 * as an equipment. A caller that keeps sums can give them in parts
 * instead, with the same results: a year's sums for a category (YEAR:
 * dated any day of that year, counted in no day), the rows of the days
 * of the request's lines (DAY: counted in no year), and the equipments
 * (EQUIPMENT: their date and category only). */
enum rules_history_scope {
	RULES_HISTORY_ALL = 0,
	RULES_HISTORY_YEAR,
	RULES_HISTORY_DAY,
	RULES_HISTORY_EQUIPMENT,
};

/* An earlier computed line of the same beneficiary. */
struct rules_history_item {
	rules_date_t date;
	enum rules_category category;
	int64_t pf_cents;
	int64_t franchise_cents;
	int64_t amc_cents;
	int64_t forfait_cents;
	int32_t quantity; /* units of a per-act forfait when forfait_cents > 0 */
	bool equipment;	  /* see rules_history_equipment_default() */
	enum rules_history_scope scope;
};

/* Members of a line given explicitly, in rules_line.given: with an act
 * code, a missing brss or rate (or 100PS price limit) comes from the
 * act table of the line's date. */
#define RULES_GIVEN_BRSS	0x1u
#define RULES_GIVEN_AMO_RATE	0x2u
#define RULES_GIVEN_PRICE_LIMIT 0x4u

struct rules_line {
	const char *id;	 /* caller's storage; not used by the rules */
	const char *act; /* NULL, or an act code of the parameters */
	rules_date_t date;
	enum rules_category category;
	unsigned given;
	int64_t charged_cents;
	int64_t brss_cents;
	int32_t amo_rate;
	int32_t quantity;
	bool optam;
	bool parcours;
	enum rules_basket basket;
	int64_t price_limit_cents;
	enum rules_lens lenses[2];
	int64_t frame_charged_cents;
};

struct rules_request {
	struct rules_beneficiary beneficiary;
	const struct rules_contract *contract;
	const struct rules_history_item *history;
	size_t n_history;
	const struct rules_line *lines;
	size_t n_lines;
};

/* ------------------------------------------------------------------ */
/* The result.                                                         */

struct rules_line_result {
	int64_t charged_cents;
	int64_t brss_cents; /* as used: given or from the act table */
	int32_t amo_rate;
	int64_t amo_gross_cents;
	int64_t pf_cents;
	int64_t franchise_cents;
	int64_t amo_paid_cents;
	int64_t amc_cents;
	int64_t forfait_cents;
	int64_t rac_cents;
	uint8_t n_rules;
	uint8_t rules[RULES_TRACE_MAX]; /* enum rules_rule, in order */
};

struct rules_totals {
	int64_t charged_cents;
	int64_t amo_paid_cents;
	int64_t amc_cents;
	int64_t rac_cents;
};

/* Defaults of section 4: responsible as given, no guarantee anywhere. */
void rules_contract_init(struct rules_contract *c, bool responsible);
/* quantity 1, optam and parcours true, nothing else given. */
void rules_line_init(struct rules_line *l);
/* quantity 1, amounts 0, equipment false. */
void rules_history_init(struct rules_history_item *h);
/* The default of `equipment`: OPTIQUE_EQUIPEMENT and AUDIO items that
 * the AMC paid. */
bool rules_history_equipment_default(enum rules_category cat, int64_t amc_cents);

/* Checks the request's values (ranges, required members, coherence);
 * rules_compute() calls it first. */
RULES_MUST_CHECK int rules_request_check(const struct rules_request *req, struct rules_error *err);
/* The checks of one line, lines[index] of a request, for a beneficiary
 * born on `birth`: what rules_request_check() refuses in a line. */
RULES_MUST_CHECK int rules_line_check(const struct rules_line *l, size_t index, rules_date_t birth,
				      struct rules_error *err);
/* What rules_compute() refuses in a line before the guarantees: no
 * parameters in force on its date, and from the act table (an unknown
 * act the line needs a tariff of, an act of another category, a 100PS
 * price limit no one gives, acts priced above RULES_MAX_CENTS) and the
 * AMO's share it finds (charged below it, a price limit below the
 * BRSS), for a beneficiary of `age` on the line's date. A sender told
 * "accepted" must not learn it from a claim in error. *amo_gross (when
 * not NULL) is that share, round(BRSS x rate), as step 1 prices it. */
RULES_MUST_CHECK int rules_line_tariff_check(const struct rules_params *p,
					     const struct rules_line *l, size_t index, int age,
					     int64_t *amo_gross, struct rules_error *err);
RULES_MUST_CHECK int rules_guarantee_check(enum rules_category cat, const struct rules_guarantee *g,
					   const char *path, struct rules_error *err);

/* The most the AMO may withhold on one line of `cat` and `quantity`
 * (participation forfaitaire and franchise, their caps included) under
 * the parameters in force `ps`: what an AMO amount paid may fall short
 * of round(BRSS x rate) by. 0 for care that bears neither. */
int64_t rules_withholding_max(const struct rules_param_set *ps, enum rules_category cat,
			      int64_t quantity);
/* The same for one beneficiary: 0 when they are exempt from what the
 * category bears (an exemption, RULES_EXEMPT_*, or their age on the
 * care date under the PF's or the franchise's exempt_under_age), as
 * rules_compute() exempts them. */
int64_t rules_withholding_max_for(const struct rules_param_set *ps, enum rules_category cat,
				  int64_t quantity, unsigned exempt, int age);

/* Computes every line; out[] has req->n_lines entries. */
RULES_MUST_CHECK int rules_compute(const struct rules_params *p, const struct rules_request *req,
				   struct rules_line_result *out, struct rules_totals *totals,
				   struct rules_error *err);

/* ------------------------------------------------------------------ */
/* Contrat responsable validation of a formula (rules_formula.c).      */

#define RULES_REASON_MAX 200

struct rules_formula_issue {
	int category; /* enum rules_category, or -1 for the whole formula */
	char reason[RULES_REASON_MAX];
};

/* Judges a contract declared responsible against the legal frame in
 * force on `date`. Fills at most `max` issues and sets *n to how many
 * were found (0: compliant). A contract not declared responsible has no
 * issue. RULES_ERR when the parameters of the frame are not in force on
 * that date. */
RULES_MUST_CHECK int rules_formula_check(const struct rules_contract *c,
					 const struct rules_params *p, rules_date_t date,
					 struct rules_formula_issue *out, size_t max, size_t *n,
					 struct rules_error *err);

#endif
