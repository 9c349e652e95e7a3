/*
 * NAME
 *	test_rules_engine.c - each rule of the engine, through the C API
 *
 * DESCRIPTION
 *	Table-driven tests of the rules of docs/rules.md one by one, with
 *	requests built from C structs as the reimbursement daemon builds
 *	them: one line, a guarantee for its category, a short history, the
 *	amounts expected and the exact list of rule names. Then what needs
 *	several lines (a computed line joining the history of the next),
 *	large requests (the arena's malloc path) and the faults only the
 *	engine can see. Every figure was worked out by hand from the rules.
 *	Runs from the repository root (reads deploy/params/parameters.json).
 */
#include <stdlib.h>
#include <time.h>

#include "rules/rules_json.h"
#include "common/params.h"
#include "test.h"

static struct rules_params params;

#define D(s) date_of(s)

static rules_date_t date_of(const char *s)
{
	rules_date_t d = 0;

	if (s != NULL && rules_date_parse(s, &d) != RULES_OK)
		printf("  bad date in test: %s\n", s);
	return d;
}

/* The parameters every program reads (common/params.c), from the repo root. */
static void load_params(void)
{
	REQUIRE(params_load(PARAMS_DEFAULT_PATH, &params) == OK);
}

/* "PF GUARANTEE_PCT" for the line's trace. */
static void trace(const struct rules_line_result *r, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (int i = 0; i < r->n_rules && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? " " : "",
					rules_rule_name(r->rules[i]));
}

static void check_balance(const struct rules_line_result *r)
{
	CHECK_EQ_I64(r->amo_paid_cents + r->amc_cents + r->rac_cents, r->charged_cents);
	CHECK_EQ_I64(r->amo_gross_cents - r->pf_cents - r->franchise_cents, r->amo_paid_cents);
}

/* ---- one line, one rule ------------------------------------------------- */

struct hist {
	const char *date;
	enum rules_category cat;
	int64_t pf, fr, amc, forfait;
	int q;
	int equipment; /* 0 default, 1 true, -1 false */
};

struct rule_case {
	const char *name;
	bool not_responsible;
	const char *birth;
	unsigned exempt;
	struct rules_guarantee g;
	struct hist hist[3];
	/* the line; zero means the default of section 4 */
	const char *date;
	enum rules_category cat;
	int64_t charged, brss;
	int rate, q;
	bool non_optam, outside;
	enum rules_basket basket;
	int64_t price_limit, frame;
	enum rules_lens l0, l1;
	/* expected */
	int64_t pf, fr, amc, forfait;
	const char *rules;
};

/* clang-format off */
#define PCT(p) {.form = RULES_FORM_PCT, .pct_brss = (p)}
#define PCT_NO(p, n) {.form = RULES_FORM_PCT, .pct_brss = (p), .has = RULES_G_NON_OPTAM, \
		      .non_optam_pct_brss = (n)}
#define FR {.form = RULES_FORM_FRAIS_REELS}
#define ACT(a) {.form = RULES_FORM_PER_ACT, .per_act_cents = (a)}
#define EQ(e) {.form = RULES_FORM_EQUIPMENT, .equipment_cents = (e)}
/* clang-format on */
#define GP	 RULES_CAT_CONSULT_GP
#define SPEC	 RULES_CAT_CONSULT_SPEC
#define GLASSES	 RULES_CAT_OPTIQUE_EQUIPEMENT
#define SIMPLE	 RULES_LENS_SIMPLE
#define COMPLEX	 RULES_LENS_COMPLEX
#define VCOMPLEX RULES_LENS_VERY_COMPLEX

static const struct rule_case cases[] = {
	/* step 2: participation forfaitaire */
	{"pf", .g = PCT(100), .cat = GP, .charged = 3000, .brss = 3000, .rate = 70, .pf = 200,
	 .amc = 900, .rules = "PF GUARANTEE_PCT"},
	{"pf bounded by the AMO share", .g = PCT(100), .cat = GP, .charged = 100, .brss = 100,
	 .rate = 70, .pf = 70, .amc = 30, .rules = "PF GUARANTEE_PCT"},
	{"pf daily cap from history", .g = PCT(100), .hist = {{"2026-03-10", SPEC, .pf = 700}},
	 .cat = GP, .charged = 3000, .brss = 3000, .rate = 70, .pf = 100, .amc = 900,
	 .rules = "PF PF_DAILY_CAP GUARANTEE_PCT"},
	{"pf daily cap not named when the AMO share is lower", .g = PCT(100),
	 .hist = {{"2026-03-10", SPEC, .pf = 700}}, .cat = GP, .charged = 100, .brss = 100,
	 .rate = 70, .pf = 70, .amc = 30, .rules = "PF GUARANTEE_PCT"},
	{"pf annual cap not named when the AMO share is lower", .g = PCT(100),
	 .hist = {{"2026-01-10", SPEC, .pf = 4950}}, .cat = GP, .charged = 43, .brss = 43,
	 .rate = 70, .pf = 30, .amc = 13, .rules = "PF GUARANTEE_PCT"},
	{"pf of another day is not that day's", .g = PCT(100),
	 .hist = {{"2026-03-09", SPEC, .pf = 800}}, .cat = GP, .charged = 3000, .brss = 3000,
	 .rate = 70, .pf = 200, .amc = 900, .rules = "PF GUARANTEE_PCT"},
	{"pf of another year is not this year's", .g = PCT(100),
	 .hist = {{"2025-12-31", SPEC, .pf = 5000}}, .cat = GP, .charged = 3000, .brss = 3000,
	 .rate = 70, .pf = 200, .amc = 900, .rules = "PF GUARANTEE_PCT"},
	{"pf annual cap reached", .g = PCT(100),
	 .hist = {{"2026-01-02", SPEC, .pf = 3000}, {"2026-02-02", GP, .pf = 2000}}, .cat = GP,
	 .charged = 3000, .brss = 3000, .rate = 70, .pf = 0, .amc = 900,
	 .rules = "PF_ANNUAL_CAP GUARANTEE_PCT"},
	{"pf maternity exempt", .exempt = RULES_EXEMPT_MATERNITY, .g = PCT(100), .cat = GP,
	 .charged = 3000, .brss = 3000, .rate = 70, .amc = 900, .rules = "PF_EXEMPT GUARANTEE_PCT"},
	{"pf from the 18th birthday", .birth = "2008-03-10", .g = PCT(100), .cat = GP,
	 .charged = 3000, .brss = 3000, .rate = 70, .pf = 200, .amc = 900,
	 .rules = "PF GUARANTEE_PCT"},
	{"no pf the day before 18", .birth = "2008-03-11", .g = PCT(100), .cat = GP,
	 .charged = 3000, .brss = 3000, .rate = 70, .amc = 900, .rules = "PF_EXEMPT GUARANTEE_PCT"},
	{"no pf on dental care", .g = PCT(100), .cat = RULES_CAT_DENT_SOINS, .charged = 2930,
	 .brss = 2930, .rate = 60, .amc = 1172, .rules = "GUARANTEE_PCT"},
	{"pf on teleconsultation", .g = PCT(100), .cat = RULES_CAT_TELECONSULT, .charged = 3000,
	 .brss = 3000, .rate = 70, .pf = 200, .amc = 900, .rules = "PF GUARANTEE_PCT"},
	/* step 3: franchise */
	{"franchise bounded by the AMO share", .g = PCT(100), .cat = RULES_CAT_PHARMA,
	 .charged = 200, .brss = 200, .rate = 30, .q = 3, .fr = 60, .amc = 140,
	 .rules = "FRANCHISE GUARANTEE_PCT"},
	{"franchise auxiliaire daily cap from history", .g = PCT(100),
	 .hist = {{"2026-03-10", RULES_CAT_AUXILIAIRE, .fr = 300}}, .cat = RULES_CAT_AUXILIAIRE,
	 .charged = 1000, .brss = 1000, .rate = 60, .q = 2, .fr = 100, .amc = 400,
	 .rules = "FRANCHISE FRANCHISE_DAILY_CAP GUARANTEE_PCT"},
	{"franchise daily cap not named when the AMO share is lower", .g = PCT(100),
	 .hist = {{"2026-03-10", RULES_CAT_AUXILIAIRE, .fr = 300}}, .cat = RULES_CAT_AUXILIAIRE,
	 .charged = 100, .brss = 100, .rate = 60, .q = 2, .fr = 60, .amc = 40,
	 .rules = "FRANCHISE GUARANTEE_PCT"},
	{"franchise daily caps are per category", .g = PCT(100),
	 .hist = {{"2026-03-10", RULES_CAT_TRANSPORT, .fr = 800}}, .cat = RULES_CAT_AUXILIAIRE,
	 .charged = 1000, .brss = 1000, .rate = 60, .q = 2, .fr = 200, .amc = 400,
	 .rules = "FRANCHISE GUARANTEE_PCT"},
	{"franchise annual cap", .g = PCT(100),
	 .hist = {{"2026-01-10", RULES_CAT_PHARMA, .fr = 4900}}, .cat = RULES_CAT_PHARMA,
	 .charged = 2400, .brss = 2400, .rate = 65, .q = 3, .fr = 100, .amc = 840,
	 .rules = "FRANCHISE FRANCHISE_ANNUAL_CAP GUARANTEE_PCT"},
	{"franchise annual cap not named when the AMO share is lower", .g = PCT(100),
	 .hist = {{"2026-01-10", RULES_CAT_PHARMA, .fr = 4900}}, .cat = RULES_CAT_PHARMA,
	 .charged = 50, .brss = 50, .rate = 65, .q = 3, .fr = 33, .amc = 17,
	 .rules = "FRANCHISE GUARANTEE_PCT"},
	{"franchise C2S exempt", .exempt = RULES_EXEMPT_C2S, .g = PCT(100), .cat = RULES_CAT_PHARMA,
	 .charged = 2400, .brss = 2400, .rate = 65, .q = 3, .amc = 840,
	 .rules = "FRANCHISE_EXEMPT GUARANTEE_PCT"},
	{"franchise of one transport", .g = PCT(100), .cat = RULES_CAT_TRANSPORT, .charged = 5000,
	 .brss = 5000, .rate = 65, .q = 2, .fr = 400, .amc = 1750,
	 .rules = "FRANCHISE GUARANTEE_PCT"},
	/* step 4: outside the parcours */
	{"outside parcours, room clamp", .g = PCT(100), .cat = GP, .charged = 3000, .brss = 3000,
	 .rate = 100, .outside = true, .pf = 200, .amc = 0,
	 .rules = "PF OUTSIDE_PARCOURS GUARANTEE_PCT ROOM_CLAMP"},
	/* step 6: percentages */
	{"pct raised to the TM", .g = PCT(50), .cat = RULES_CAT_DENT_SOINS, .charged = 2930,
	 .brss = 2930, .rate = 60, .amc = 1172, .rules = "GUARANTEE_PCT TM_PCT_MIN"},
	{"pct below the TM, not responsible", .not_responsible = true, .g = PCT(50),
	 .cat = RULES_CAT_DENT_SOINS, .charged = 2930, .brss = 2930, .rate = 60, .amc = 0,
	 .rules = "GUARANTEE_PCT"},
	{"no TM due on medicines at 15 %", .g = PCT(0), .cat = RULES_CAT_PHARMA, .charged = 1000,
	 .brss = 1000, .rate = 15, .fr = 100, .amc = 0, .rules = "FRANCHISE GUARANTEE_PCT"},
	{"non-OPTAM, not responsible: no limit", .not_responsible = true, .g = PCT_NO(300, 300),
	 .cat = SPEC, .charged = 12000, .brss = 3150, .rate = 70, .non_optam = true, .pf = 200,
	 .amc = 7245, .rules = "PF GUARANTEE_PCT"},
	{"non-OPTAM pct within the limits", .g = PCT_NO(200, 150), .cat = SPEC, .charged = 12000,
	 .brss = 3150, .rate = 70, .non_optam = true, .pf = 200, .amc = 2520,
	 .rules = "PF GUARANTEE_PCT NON_OPTAM_PCT"},
	{"non-OPTAM pct defaults to pct, 20 points below", .g = PCT(150), .cat = SPEC,
	 .charged = 12000, .brss = 3150, .rate = 70, .non_optam = true, .pf = 200, .amc = 1890,
	 .rules = "PF GUARANTEE_PCT NON_OPTAM_CAP"},
	{"non-OPTAM cap not named when it lowers no amount", .g = PCT(300), .cat = SPEC,
	 .charged = 3000, .brss = 3000, .rate = 70, .non_optam = true, .pf = 200, .amc = 900,
	 .rules = "PF GUARANTEE_PCT"},
	{"non-OPTAM cap below the TM minimum: TM_PCT_MIN", .g = PCT_NO(100, 100), .cat = SPEC,
	 .charged = 12000, .brss = 3150, .rate = 70, .non_optam = true, .pf = 200, .amc = 945,
	 .rules = "PF GUARANTEE_PCT TM_PCT_MIN"},
	{"OPTAM doctor: pct_brss", .g = PCT_NO(200, 150), .cat = SPEC, .charged = 12000,
	 .brss = 3150, .rate = 70, .pf = 200, .amc = 4095, .rules = "PF GUARANTEE_PCT"},
	{"non-OPTAM limit on hospital fees", .g = PCT(250), .cat = RULES_CAT_HOSP_HONORAIRES,
	 .charged = 50000, .brss = 10000, .rate = 100, .non_optam = true, .amc = 10000,
	 .rules = "GUARANTEE_PCT NON_OPTAM_CAP"},
	/* step 6: frais réels */
	{"frais reels, OPTAM", .g = FR, .cat = SPEC, .charged = 12000, .brss = 3150, .rate = 70,
	 .pf = 200, .amc = 9795, .rules = "PF FRAIS_REELS"},
	{"frais reels, non-OPTAM, responsible", .g = FR, .cat = SPEC, .charged = 12000,
	 .brss = 3150, .rate = 70, .non_optam = true, .pf = 200, .amc = 4095,
	 .rules = "PF FRAIS_REELS NON_OPTAM_CAP"},
	{"frais reels, non-OPTAM, not responsible", .not_responsible = true, .g = FR, .cat = SPEC,
	 .charged = 12000, .brss = 3150, .rate = 70, .non_optam = true, .pf = 200, .amc = 9795,
	 .rules = "PF FRAIS_REELS"},
	/* step 6: forfaits */
	{"per act limited by the room", .g = ACT(6000), .cat = RULES_CAT_HOSP_CHAMBRE,
	 .charged = 4500, .amc = 4500, .forfait = 4500, .rules = "PER_ACT_FORFAIT"},
	{"per act, fewer acts left than asked",
	 .g = {.form = RULES_FORM_PER_ACT,
	       .per_act_cents = 3500,
	       .has = RULES_G_MAX_ACTS,
	       .max_acts_per_year = 3},
	 .hist = {{"2026-01-05", RULES_CAT_MEDECINE_DOUCE, .amc = 7000, .forfait = 7000, .q = 2}},
	 .cat = RULES_CAT_MEDECINE_DOUCE, .charged = 12000, .q = 2, .amc = 3500, .forfait = 3500,
	 .rules = "MAX_ACTS_REACHED PER_ACT_FORFAIT"},
	{"per act: acts paid no forfait do not count",
	 .g = {.form = RULES_FORM_PER_ACT,
	       .per_act_cents = 3500,
	       .has = RULES_G_MAX_ACTS,
	       .max_acts_per_year = 3},
	 .hist = {{"2026-01-05", RULES_CAT_MEDECINE_DOUCE, .q = 3}},
	 .cat = RULES_CAT_MEDECINE_DOUCE, .charged = 6000, .amc = 3500, .forfait = 3500,
	 .rules = "PER_ACT_FORFAIT"},
	{"equipment below the AMO share, TM floor", .g = EQ(1000),
	 .cat = RULES_CAT_OPTIQUE_LENTILLES, .charged = 5000, .brss = 3922, .rate = 60, .amc = 1569,
	 .rules = "EQUIPMENT_FORFAIT TM_FLOOR"},
	{"no guarantee, not responsible", .not_responsible = true, .cat = RULES_CAT_DENT_SOINS,
	 .charged = 2930, .brss = 2930, .rate = 60, .amc = 0, .rules = "NO_GUARANTEE"},
	/* step 6: envelopes */
	{"envelope alone", .g = {.has = RULES_G_ANNUAL, .annual_cents = 15000},
	 .cat = RULES_CAT_MEDECINE_DOUCE, .charged = 6000, .amc = 6000, .forfait = 6000,
	 .rules = "ANNUAL_ENVELOPE"},
	{"envelope partly used", .g = {.has = RULES_G_ANNUAL, .annual_cents = 15000},
	 .hist = {{"2026-02-01", RULES_CAT_MEDECINE_DOUCE, .amc = 12000, .forfait = 12000}},
	 .cat = RULES_CAT_MEDECINE_DOUCE, .charged = 6000, .amc = 3000, .forfait = 3000,
	 .rules = "ANNUAL_ENVELOPE"},
	{"envelope of last year", .g = {.has = RULES_G_ANNUAL, .annual_cents = 15000},
	 .hist = {{"2025-02-01", RULES_CAT_MEDECINE_DOUCE, .amc = 15000, .forfait = 15000}},
	 .cat = RULES_CAT_MEDECINE_DOUCE, .charged = 6000, .amc = 6000, .forfait = 6000,
	 .rules = "ANNUAL_ENVELOPE"},
	/* step 7: caps */
	{"annual cap takes from the envelope first",
	 .g = {.form = RULES_FORM_PCT,
	       .pct_brss = 100,
	       .has = RULES_G_ANNUAL | RULES_G_ANNUAL_CAP,
	       .annual_cents = 15000,
	       .annual_cap_cents = 5000},
	 .cat = RULES_CAT_OPTIQUE_LENTILLES, .charged = 20000, .brss = 3922, .rate = 60,
	 .amc = 5000, .forfait = 3431, .rules = "GUARANTEE_PCT ANNUAL_ENVELOPE ANNUAL_CAP"},
	{"annual cap is per category",
	 .g = {.form = RULES_FORM_PCT,
	       .pct_brss = 300,
	       .has = RULES_G_ANNUAL_CAP,
	       .annual_cap_cents = 80000},
	 .hist = {{"2026-01-20", RULES_CAT_DENT_SOINS, .amc = 80000}},
	 .cat = RULES_CAT_DENT_PROTHESE, .charged = 70000, .brss = 12000, .rate = 60, .amc = 28800,
	 .rules = "GUARANTEE_PCT"},
	{"class B simple+simple", .g = EQ(100000), .cat = GLASSES, .charged = 100000, .brss = 15,
	 .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 41991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B complex+simple", .g = EQ(100000), .cat = GLASSES, .charged = 100000, .brss = 15,
	 .rate = 60, .l0 = COMPLEX, .l1 = SIMPLE, .amc = 55991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B simple+very complex", .g = EQ(100000), .cat = GLASSES, .charged = 100000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = VCOMPLEX, .amc = 60991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B complex+complex", .g = EQ(100000), .cat = GLASSES, .charged = 100000, .brss = 15,
	 .rate = 60, .l0 = COMPLEX, .l1 = COMPLEX, .amc = 69991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B very complex+complex", .g = EQ(100000), .cat = GLASSES, .charged = 100000,
	 .brss = 15, .rate = 60, .l0 = VCOMPLEX, .l1 = COMPLEX, .amc = 74991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B very complex+very complex", .g = EQ(100000), .cat = GLASSES, .charged = 100000,
	 .brss = 15, .rate = 60, .l0 = VCOMPLEX, .l1 = VCOMPLEX, .amc = 79991,
	 .rules = "EQUIPMENT_FORFAIT OPTICS_CEILING"},
	{"class B, not responsible", .not_responsible = true, .g = EQ(100000), .cat = GLASSES,
	 .charged = 100000, .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .frame = 50000,
	 .amc = 99991, .rules = "EQUIPMENT_FORFAIT"},
	{"frame above 100 euros", .g = EQ(30000), .cat = GLASSES, .charged = 35000, .brss = 15,
	 .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .frame = 20000, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT FRAME_CAP"},
	/* step 8: floors */
	{"glasses 100PS: no class B ceiling", .g = EQ(100000), .cat = GLASSES, .charged = 100000,
	 .brss = 15, .rate = 60, .basket = RULES_BASKET_100PS, .price_limit = 100000, .amc = 99991,
	 .rules = "EQUIPMENT_FORFAIT 100PS"},
	{"audio 100PS: no class II ceiling", .g = EQ(0), .cat = RULES_CAT_AUDIO, .charged = 250000,
	 .brss = 40000, .rate = 60, .basket = RULES_BASKET_100PS, .price_limit = 250000,
	 .amc = 226000, .rules = "EQUIPMENT_FORFAIT TM_FLOOR 100PS"},
	{"100PS sets the AMC, even below the guarantee", .g = PCT(1000),
	 .cat = RULES_CAT_DENT_PROTHESE, .charged = 60000, .brss = 12000, .rate = 60,
	 .basket = RULES_BASKET_100PS, .price_limit = 50000, .amc = 42800,
	 .rules = "GUARANTEE_PCT 100PS"},
	{"100PS, not responsible: the guarantee", .not_responsible = true, .g = PCT(1000),
	 .cat = RULES_CAT_DENT_PROTHESE, .charged = 60000, .brss = 12000, .rate = 60,
	 .basket = RULES_BASKET_100PS, .price_limit = 50000, .amc = 52800,
	 .rules = "GUARANTEE_PCT"},
	{"FJH, not responsible, no guarantee", .not_responsible = true, .cat = RULES_CAT_HOSP_FJH,
	 .charged = 2000, .amc = 0, .rules = "NO_GUARANTEE"},
	{"FJH, responsible, per act below the day", .g = ACT(1500), .cat = RULES_CAT_HOSP_FJH,
	 .charged = 2000, .amc = 2000, .forfait = 1500, .rules = "PER_ACT_FORFAIT FJH_FULL"},
	/* step 5: renewal */
	{"glasses of a child: 12 months not over", .birth = "2015-01-01", .g = EQ(25000),
	 .hist = {{"2025-06-01", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"renewal_months of the guarantee",
	 .g = {.form = RULES_FORM_EQUIPMENT,
	       .equipment_cents = 25000,
	       .has = RULES_G_RENEWAL,
	       .renewal_months = 12},
	 .hist = {{"2025-03-01", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"history item that is not an equipment", .g = EQ(25000),
	 .hist = {{"2026-01-01", GLASSES, .amc = 20000, .equipment = -1}}, .cat = GLASSES,
	 .charged = 30000, .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"equipment the AMC did not pay still counts", .g = EQ(25000),
	 .hist = {{"2026-01-01", GLASSES, .equipment = 1}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"hearing aids every 4 years", .g = EQ(150000),
	 .hist = {{"2023-01-01", RULES_CAT_AUDIO, .amc = 100000}}, .cat = RULES_CAT_AUDIO,
	 .charged = 150000, .brss = 40000, .rate = 60, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"a later equipment does not block", .g = EQ(25000),
	 .hist = {{"2026-06-01", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"an equipment of another category does not block", .g = EQ(25000),
	 .hist = {{"2026-01-01", RULES_CAT_AUDIO, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"29 February plus 24 months is 28 February", .date = "2026-02-28", .g = EQ(25000),
	 .hist = {{"2024-02-29", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"one day short of 24 months", .date = "2026-02-27", .g = EQ(25000),
	 .hist = {{"2024-02-29", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"exactly 24 months after: due", .g = EQ(25000),
	 .hist = {{"2024-03-10", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"24 months less a day: not due", .g = EQ(25000),
	 .hist = {{"2024-03-11", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"an equipment the same day: not due", .g = EQ(25000),
	 .hist = {{"2026-03-10", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"hearing aids exactly 48 months after: due", .g = EQ(150000),
	 .hist = {{"2022-03-10", RULES_CAT_AUDIO, .amc = 100000}}, .cat = RULES_CAT_AUDIO,
	 .charged = 150000, .brss = 40000, .rate = 60, .amc = 126000, .rules = "EQUIPMENT_FORFAIT"},
	{"31 August plus 6 months is 28 February: due", .date = "2026-02-28",
	 .g = {.form = RULES_FORM_EQUIPMENT,
	       .equipment_cents = 25000,
	       .has = RULES_G_RENEWAL,
	       .renewal_months = 6},
	 .hist = {{"2025-08-31", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 24991,
	 .rules = "EQUIPMENT_FORFAIT"},
	{"31 August plus 6 months, the day before: not due", .date = "2026-02-27",
	 .g = {.form = RULES_FORM_EQUIPMENT,
	       .equipment_cents = 25000,
	       .has = RULES_G_RENEWAL,
	       .renewal_months = 6},
	 .hist = {{"2025-08-31", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"31 August plus 6 months in a leap year is 29 February", .date = "2028-02-28",
	 .g = {.form = RULES_FORM_EQUIPMENT,
	       .equipment_cents = 25000,
	       .has = RULES_G_RENEWAL,
	       .renewal_months = 6},
	 .hist = {{"2027-08-31", GLASSES, .amc = 20000}}, .cat = GLASSES, .charged = 30000,
	 .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE, .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"the latest equipment on or before the line decides", .g = EQ(25000),
	 .hist = {{"2020-01-01", GLASSES, .amc = 20000},
		  {"2026-06-01", GLASSES, .amc = 20000},
		  {"2024-03-11", GLASSES, .amc = 20000}},
	 .cat = GLASSES, .charged = 30000, .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE,
	 .amc = 0, .rules = "RENEWAL_NOT_DUE"},
	{"equipments all older than the period: due", .g = EQ(25000),
	 .hist = {{"2024-03-10", GLASSES, .amc = 20000},
		  {"2026-06-01", GLASSES, .amc = 20000},
		  {"2021-01-01", GLASSES, .amc = 20000}},
	 .cat = GLASSES, .charged = 30000, .brss = 15, .rate = 60, .l0 = SIMPLE, .l1 = SIMPLE,
	 .amc = 24991, .rules = "EQUIPMENT_FORFAIT"},
};

static const struct rule_case *current;

static void build_history(const struct rule_case *c, struct rules_history_item *h, size_t *n)
{
	*n = 0;
	for (int i = 0; i < 3 && c->hist[i].date != NULL; i++) {
		struct rules_history_item *it = &h[(*n)++];

		rules_history_init(it);
		it->date = D(c->hist[i].date);
		it->category = c->hist[i].cat;
		it->pf_cents = c->hist[i].pf;
		it->franchise_cents = c->hist[i].fr;
		it->amc_cents = c->hist[i].amc;
		it->forfait_cents = c->hist[i].forfait;
		it->quantity = c->hist[i].q ? c->hist[i].q : 1;
		it->equipment =
			c->hist[i].equipment == 0
				? rules_history_equipment_default(it->category, it->amc_cents)
				: c->hist[i].equipment > 0;
	}
}

static void build_line(const struct rule_case *c, struct rules_line *l)
{
	rules_line_init(l);
	l->id = "L1";
	l->date = D(c->date != NULL ? c->date : "2026-03-10");
	l->category = c->cat;
	l->charged_cents = c->charged;
	l->brss_cents = c->brss;
	l->amo_rate = c->rate;
	l->quantity = c->q ? c->q : 1;
	l->optam = !c->non_optam;
	l->parcours = !c->outside;
	l->basket = c->basket;
	l->price_limit_cents = c->price_limit;
	if (c->basket != RULES_BASKET_NONE)
		l->given |= RULES_GIVEN_PRICE_LIMIT;
	l->lenses[0] = c->l0;
	l->lenses[1] = c->l1;
	l->frame_charged_cents = c->frame;
	if (c->cat == RULES_CAT_OPTIQUE_EQUIPEMENT && c->basket == RULES_BASKET_NONE)
		l->basket = RULES_BASKET_LIBRE;
}

static void test_rule_case(void)
{
	const struct rule_case *c = current;
	struct rules_contract contract;
	struct rules_history_item hist[3];
	struct rules_line line;
	struct rules_request req = {{0}, 0, 0, 0, 0, 0};
	struct rules_line_result r;
	struct rules_totals t;
	struct rules_error err;
	char got[256];

	rules_contract_init(&contract, !c->not_responsible);
	contract.g[c->cat] = c->g;
	build_history(c, hist, &req.n_history);
	build_line(c, &line);
	req.beneficiary.birth_date = D(c->birth != NULL ? c->birth : "1980-05-01");
	req.beneficiary.exempt = c->exempt;
	req.contract = &contract;
	req.history = hist;
	req.lines = &line;
	req.n_lines = 1;
	if (rules_compute(&params, &req, &r, &t, &err) != RULES_OK) {
		printf("  %s: %s: %s\n", c->name, err.field, err.reason);
		CHECK(0);
		return;
	}
	trace(&r, got, sizeof got);
	CHECK_EQ_I64(r.pf_cents, c->pf);
	CHECK_EQ_I64(r.franchise_cents, c->fr);
	CHECK_EQ_I64(r.amc_cents, c->amc);
	CHECK_EQ_I64(r.forfait_cents, c->forfait);
	CHECK_EQ_STR(got, c->rules);
	check_balance(&r);
	CHECK_EQ_I64(t.amc_cents, r.amc_cents);
}

/* ---- several lines --------------------------------------------------------- */

struct multi {
	struct rules_contract contract;
	struct rules_line lines[8];
	struct rules_history_item hist[8];
	struct rules_request req;
	struct rules_line_result res[8];
	struct rules_totals totals;
	struct rules_error err;
};

static void multi_init(struct multi *m, size_t n_lines)
{
	memset(m, 0, sizeof *m);
	rules_contract_init(&m->contract, true);
	for (size_t i = 0; i < n_lines; i++)
		rules_line_init(&m->lines[i]);
	m->req.beneficiary.birth_date = D("1980-05-01");
	m->req.contract = &m->contract;
	m->req.lines = m->lines;
	m->req.n_lines = n_lines;
	m->req.history = m->hist;
}

/* Every line of the request alike: a date (NULL: set by the caller), a
 * category and its prices (brss 0 and rate 0: not given). */
static void same_lines(struct multi *m, const char *date, int category, int64_t charged,
		       int64_t brss, int rate)
{
	for (size_t i = 0; i < m->req.n_lines; i++) {
		if (date != NULL)
			m->lines[i].date = D(date);
		m->lines[i].category = category;
		m->lines[i].charged_cents = charged;
		m->lines[i].brss_cents = brss;
		m->lines[i].amo_rate = rate;
	}
}

static void glasses(struct rules_line *l, const char *date)
{
	l->date = D(date);
	l->category = RULES_CAT_OPTIQUE_EQUIPEMENT;
	l->charged_cents = 30000;
	l->brss_cents = 15;
	l->amo_rate = 60;
	l->basket = RULES_BASKET_LIBRE;
	l->lenses[0] = l->lenses[1] = RULES_LENS_SIMPLE;
}

/* A line paid as an equipment blocks the next one of the request. */
static void test_equipment_of_the_request_blocks(void)
{
	struct multi m;

	multi_init(&m, 2);
	m.contract.g[RULES_CAT_OPTIQUE_EQUIPEMENT] = (struct rules_guarantee)EQ(25000);
	glasses(&m.lines[0], "2026-03-10");
	glasses(&m.lines[1], "2026-09-10");
	REQUIRE(rules_compute(&params, &m.req, m.res, &m.totals, &m.err) == RULES_OK);
	CHECK_EQ_I64(m.res[0].amc_cents, 24991);
	CHECK_EQ_I64(m.res[1].amc_cents, 0);
	CHECK_EQ_I64(m.res[1].n_rules, 1);
	CHECK_EQ_I64(m.res[1].rules[0], RULES_R_RENEWAL_NOT_DUE);
	CHECK_EQ_I64(m.totals.amc_cents, 24991);
}

/* Lines out of date order: each paid equipment blocks the lines dated
 * on or after it within the period, whatever their place in the request. */
static void test_equipments_of_the_request_out_of_order(void)
{
	static const struct {
		const char *date;
		int64_t amc;
	} want[] = {
		{"2026-09-10", 24991}, /* nothing before it */
		{"2026-03-10", 24991}, /* the later glasses do not block */
		{"2026-06-10", 0},     /* those of 2026-03-10 do */
		{"2028-03-10", 0},     /* 24 months after 2026-03-10, not after 2026-09-10 */
		{"2028-09-10", 24991}, /* 24 months after 2026-09-10 */
		{"2026-03-10", 0},     /* the same day as paid glasses */
		{"2026-01-10", 24991}, /* before every paid one */
	};
	struct multi m;

	multi_init(&m, 7);
	m.contract.g[RULES_CAT_OPTIQUE_EQUIPEMENT] = (struct rules_guarantee)EQ(25000);
	for (int i = 0; i < 7; i++)
		glasses(&m.lines[i], want[i].date);
	REQUIRE(rules_compute(&params, &m.req, m.res, &m.totals, &m.err) == RULES_OK);
	for (int i = 0; i < 7; i++) {
		CHECK_EQ_I64(m.res[i].amc_cents, want[i].amc);
		CHECK_EQ_I64(m.res[i].rules[0] == RULES_R_RENEWAL_NOT_DUE, want[i].amc == 0);
	}
}

/* A request of n lines against h history items on the heap (more than
 * the engine's stack arena holds), lines and history initialised, the
 * contract responsible with no guarantee: the large-request tests fill
 * them in. 0, or -1 when memory ran out. */
struct heap_request {
	struct rules_line *lines;
	struct rules_history_item *hist;
	struct rules_line_result *res;
	struct rules_contract contract;
	struct rules_request req;
};

static int heap_request_new(struct heap_request *b, int n, int h)
{
	b->lines = calloc((size_t)n, sizeof *b->lines);
	b->hist = calloc((size_t)h, sizeof *b->hist);
	b->res = calloc((size_t)n, sizeof *b->res);
	if (b->lines == NULL || b->hist == NULL || b->res == NULL)
		return -1;
	rules_contract_init(&b->contract, true);
	for (int i = 0; i < h; i++)
		rules_history_init(&b->hist[i]);
	for (int i = 0; i < n; i++)
		rules_line_init(&b->lines[i]);
	b->req = (struct rules_request){
		{D("1980-05-01"), 0}, &b->contract, b->hist, (size_t)h, b->lines, (size_t)n};
	return 0;
}

static void heap_request_free(struct heap_request *b)
{
	free(b->lines);
	free(b->hist);
	free(b->res);
}

/* Renewals cost O(log n) a line: 10 000 hearing aid lines against 100 000
 * equipments of the history take milliseconds (they took seconds when
 * each line scanned every equipment). The time is printed, never judged
 * (tests do not fail on timing: valgrind runs this too); the results
 * are. */
static void test_renewal_many_equipments(void)
{
	enum { N = 10000, H = 100000 };
	struct heap_request b;
	struct rules_totals t;
	struct rules_error err;
	int32_t start = rules_date_to_days(D("2026-01-01"));
	rules_date_t first_paid = INT32_MAX;
	clock_t t0;
	double seconds;

	REQUIRE(heap_request_new(&b, N, H) == 0);
	b.contract.g[RULES_CAT_AUDIO] = (struct rules_guarantee)EQ(150000);
	for (int i = 0; i < H; i++) {
		/* 2000 to 2019: all more than 48 months before the lines */
		b.hist[i].date = rules_date_from_days(rules_date_to_days(D("2000-01-01")) +
						      (int32_t)((i * 7919L) % 7300));
		b.hist[i].category = RULES_CAT_AUDIO;
		b.hist[i].amc_cents = 100000;
		b.hist[i].equipment = true;
	}
	for (int i = 0; i < N; i++) {
		b.lines[i].id = "L";
		b.lines[i].date = rules_date_from_days(start + (int32_t)((i * 7919L) % 700));
		b.lines[i].category = RULES_CAT_AUDIO;
		b.lines[i].charged_cents = 150000;
		b.lines[i].brss_cents = 40000;
		b.lines[i].amo_rate = 60;
	}
	t0 = clock();
	REQUIRE(rules_compute(&params, &b.req, b.res, &t, &err) == RULES_OK);
	seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
	printf("  %d lines, %d equipments: %.3f s of CPU\n", N, H, seconds);
	/* Within two years of each other, a line is paid only when it is
	 * dated before every line paid so far. */
	for (int i = 0; i < N; i++) {
		bool paid = b.lines[i].date < first_paid;

		CHECK_EQ_I64(b.res[i].amc_cents, paid ? 126000 : 0);
		if (paid)
			first_paid = b.lines[i].date;
	}
	heap_request_free(&b);
}

/* Lines of two years: each its own annual PF cap. */
static void test_years_apart(void)
{
	struct multi m;

	multi_init(&m, 2);
	m.contract.g[GP] = (struct rules_guarantee)PCT(100);
	rules_history_init(&m.hist[0]);
	m.hist[0].date = D("2025-06-01");
	m.hist[0].category = GP;
	m.hist[0].pf_cents = 5000;
	m.req.n_history = 1;
	same_lines(&m, NULL, GP, 3000, 3000, 70);
	m.lines[0].date = D("2025-12-31");
	m.lines[1].date = D("2026-01-01");
	REQUIRE(rules_compute(&params, &m.req, m.res, &m.totals, &m.err) == RULES_OK);
	CHECK_EQ_I64(m.res[0].pf_cents, 0);
	CHECK_EQ_I64(m.res[1].pf_cents, 200);
	CHECK_EQ_I64(m.totals.charged_cents, 6000);
	CHECK_EQ_I64(m.totals.amo_paid_cents, m.res[0].amo_paid_cents + m.res[1].amo_paid_cents);
	CHECK_EQ_I64(m.totals.rac_cents, m.res[0].rac_cents + m.res[1].rac_cents);
}

/* The annual cap counts the AMC of earlier lines of the request. */
static void test_cap_across_lines(void)
{
	struct multi m;
	struct rules_guarantee g = PCT(300);

	g.has = RULES_G_ANNUAL_CAP;
	g.annual_cap_cents = 40000;
	multi_init(&m, 2);
	m.contract.g[RULES_CAT_DENT_PROTHESE] = g;
	same_lines(&m, "2026-04-01", RULES_CAT_DENT_PROTHESE, 70000, 12000, 60);
	REQUIRE(rules_compute(&params, &m.req, m.res, &m.totals, &m.err) == RULES_OK);
	CHECK_EQ_I64(m.res[0].amc_cents, 28800);
	CHECK_EQ_I64(m.res[1].amc_cents, 11200); /* 40000 - 28800 */
}

/* ---- the act table through the C API -------------------------------------- */

static int compute_one(struct multi *m)
{
	return rules_compute(&params, &m->req, m->res, &m->totals, &m->err);
}

static void test_act_tariff(void)
{
	struct multi m;

	multi_init(&m, 1);
	m.contract.g[RULES_CAT_AUXILIAIRE] = (struct rules_guarantee)PCT(100);
	m.lines[0].date = D("2026-03-10");
	m.lines[0].category = RULES_CAT_AUXILIAIRE;
	m.lines[0].act = "AMI";
	m.lines[0].quantity = 2;
	m.lines[0].charged_cents = 630;
	/* The table prices one act (AMI 3.15 EUR): two acts, twice that. */
	REQUIRE(compute_one(&m) == RULES_OK);
	CHECK_EQ_I64(m.res[0].brss_cents, 630);
	CHECK_EQ_I64(m.res[0].amo_rate, 60);
	CHECK_EQ_I64(m.res[0].amo_gross_cents, 378);
	CHECK_EQ_I64(m.res[0].franchise_cents, 200);
	CHECK_EQ_I64(m.res[0].rules[0], RULES_R_ACT_TARIFF);
	/* Given values win over the table, and are the line's. */
	m.lines[0].brss_cents = 500;
	m.lines[0].given = RULES_GIVEN_BRSS;
	REQUIRE(compute_one(&m) == RULES_OK);
	CHECK_EQ_I64(m.res[0].brss_cents, 500);
	CHECK_EQ_I64(m.res[0].amo_gross_cents, 300);
}

/* Two 100PS crowns priced by their act: the BRSS and the price limit
 * (the HLF) of two, and nothing left to the member at the limit. */
static void test_act_tariff_of_two_crowns(void)
{
	struct multi m;

	multi_init(&m, 1);
	m.contract.g[RULES_CAT_DENT_PROTHESE] = (struct rules_guarantee)PCT(100);
	m.lines[0].date = D("2026-03-10");
	m.lines[0].category = RULES_CAT_DENT_PROTHESE;
	m.lines[0].act = "HBLD634";
	m.lines[0].basket = RULES_BASKET_100PS;
	m.lines[0].quantity = 2;
	m.lines[0].charged_cents = 100000;
	REQUIRE(compute_one(&m) == RULES_OK);
	CHECK_EQ_I64(m.res[0].brss_cents, 24000);
	CHECK_EQ_I64(m.res[0].amo_gross_cents, 14400);
	CHECK_EQ_I64(m.res[0].rac_cents, 0);
	CHECK_EQ_I64(m.res[0].amc_cents, 85600);
	/* Charged above the two crowns' limit: the excess is the member's. */
	m.lines[0].charged_cents = 100500;
	REQUIRE(compute_one(&m) == RULES_OK);
	CHECK_EQ_I64(m.res[0].rac_cents, 500);
}

/* rules_line_tariff_check() refuses what rules_compute() refuses before
 * the guarantees, the dated parameters included, and gives the AMO's
 * share it priced. */
static void test_line_tariff_check(void)
{
	struct rules_line l;
	struct rules_error err;
	int64_t gross = -1;

	rules_line_init(&l);
	l.date = D("2026-03-10");
	l.category = RULES_CAT_AUXILIAIRE;
	l.act = "AMI";
	l.quantity = 3;
	l.charged_cents = 945;
	REQUIRE(rules_line_tariff_check(&params, &l, 0, 40, &gross, &err) == RULES_OK);
	CHECK_EQ_I64(gross, 567);
	l.date = D("2024-05-14"); /* the day before the PF of parameters.json */
	CHECK(rules_line_tariff_check(&params, &l, 0, 40, NULL, &err) == RULES_ERR);
	CHECK_EQ_STR(err.field, "lines[0].date");
	l.date = D("2024-05-15");
	l.act = NULL; /* before the AMI of the act table: priced as given */
	l.brss_cents = 945;
	l.amo_rate = 60;
	l.given = RULES_GIVEN_BRSS | RULES_GIVEN_AMO_RATE;
	CHECK(rules_line_tariff_check(&params, &l, 0, 40, &gross, &err) == RULES_OK);
	CHECK_EQ_I64(gross, 567);
}

static void test_engine_faults(void)
{
	struct multi m;

	multi_init(&m, 1);
	m.lines[0].date = D("2026-03-10");
	m.lines[0].category = GP;
	m.lines[0].charged_cents = 3000;
	m.lines[0].act = "ZZZ";
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].act");
	m.lines[0].act = "AMI"; /* a nurse act on a GP line */
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].act");
	m.lines[0].act = NULL;
	m.lines[0].brss_cents = 3000;
	m.lines[0].amo_rate = 70;
	m.lines[0].charged_cents = 2000; /* below the AMO share 2100 */
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].charged_cents");
	m.lines[0].charged_cents = 3000;
	m.lines[0].date = D("2024-01-10"); /* before the PF of parameters.json */
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].date");
	m.lines[0].date = D("2026-03-10");
	m.lines[0].category = RULES_CAT_DENT_PROTHESE;
	m.lines[0].basket = RULES_BASKET_100PS;
	m.lines[0].price_limit_cents = 2000;
	m.lines[0].given = RULES_GIVEN_PRICE_LIMIT;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].price_limit_cents");
	/* A price limit given with any basket is at least the BRSS. */
	for (enum rules_basket b = RULES_BASKET_MAITRISE; b <= RULES_BASKET_LIBRE; b++) {
		m.lines[0].basket = b;
		m.lines[0].price_limit_cents = 2999;
		CHECK(compute_one(&m) == RULES_ERR);
		CHECK_EQ_STR(m.err.field, "lines[0].price_limit_cents");
		m.lines[0].price_limit_cents = 3000;
		CHECK(compute_one(&m) == RULES_OK);
		m.lines[0].given = 0; /* none given: nothing to judge */
		m.lines[0].price_limit_cents = 0;
		CHECK(compute_one(&m) == RULES_OK);
		m.lines[0].given = RULES_GIVEN_PRICE_LIMIT;
	}
}

/* err.line names the line at fault, by its index in the request, for
 * the checks and for the faults only the parameters reveal; -1 when the
 * fault is the request's. */
static void test_fault_names_its_line(void)
{
	struct multi m;

	multi_init(&m, 3);
	same_lines(&m, "2026-03-10", GP, 3000, 3000, 70);
	REQUIRE(compute_one(&m) == RULES_OK);
	m.lines[1].act = "AMI"; /* the parameters' fault */
	m.lines[1].given = RULES_GIVEN_BRSS;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_I64(m.err.line, 1);
	m.lines[1].act = NULL;
	m.lines[2].quantity = -1; /* the check's */
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[2].quantity");
	CHECK_EQ_I64(m.err.line, 2);
	m.lines[2].quantity = 1;
	m.req.beneficiary.exempt = 1u << 30; /* the request's */
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_I64(m.err.line, -1);
}

/* The checks the daemon's C requests meet, with the same field names. */
static void test_request_check(void)
{
	struct multi m;

	multi_init(&m, 1);
	m.lines[0].date = D("2026-03-10");
	m.lines[0].charged_cents = 100;
	REQUIRE(compute_one(&m) == RULES_OK);
	m.req.n_lines = 0;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines");
	m.req.n_lines = 1;
	m.req.contract = NULL;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "contract");
	m.req.contract = &m.contract;
	m.contract.g[RULES_CAT_MEDECINE_DOUCE].has = RULES_G_NON_OPTAM;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "contract.guarantees.MEDECINE_DOUCE.non_optam_pct_brss");
	m.contract.g[RULES_CAT_MEDECINE_DOUCE].has = 0;
	/* A non-OPTAM percentage outside doctors' fees: never read, refused. */
	m.contract.g[RULES_CAT_DENT_SOINS].form = RULES_FORM_PCT;
	m.contract.g[RULES_CAT_DENT_SOINS].pct_brss = 150;
	m.contract.g[RULES_CAT_DENT_SOINS].has = RULES_G_NON_OPTAM;
	m.contract.g[RULES_CAT_DENT_SOINS].non_optam_pct_brss = 130;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "contract.guarantees.DENT_SOINS.non_optam_pct_brss");
	/* The same guarantee on doctors' fees is read. */
	m.contract.g[RULES_CAT_RADIOLOGIE] = m.contract.g[RULES_CAT_DENT_SOINS];
	memset(&m.contract.g[RULES_CAT_DENT_SOINS], 0, sizeof m.contract.g[0]);
	CHECK(compute_one(&m) == RULES_OK);
	memset(&m.contract.g[RULES_CAT_RADIOLOGIE], 0, sizeof m.contract.g[0]);
	m.lines[0].category = (enum rules_category)99;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].category");
	m.lines[0].category = GP;
	rules_history_init(&m.hist[0]);
	m.hist[0].date = D("2026-01-01");
	m.hist[0].quantity = 0;
	m.req.n_history = 1;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "history[0].quantity");
	m.hist[0].quantity = 1;
	m.lines[0].amo_rate = 120;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "lines[0].amo_rate");
}

/* A per-act forfait with an envelope is refused, naming the guarantee:
 * the history's forfait_cents mixes the two, so the envelope left would
 * depend on how the acts are split into lines (170 euros for one line of
 * two sessions, 135 for two lines of one). */
static void test_per_act_with_envelope_refused(void)
{
	struct multi m;
	struct rules_guarantee g = ACT(3500);

	g.has = RULES_G_ANNUAL;
	g.annual_cents = 10000;
	multi_init(&m, 2);
	m.contract.g[RULES_CAT_MEDECINE_DOUCE] = g;
	same_lines(&m, "2026-04-01", RULES_CAT_MEDECINE_DOUCE, 10000, 0, 0);
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "contract.guarantees.MEDECINE_DOUCE.annual_cents");
	CHECK(strstr(m.err.reason, "per_act_cents") != NULL);
	m.req.n_lines = 1;
	m.lines[0].quantity = 2;
	m.lines[0].charged_cents = 20000;
	CHECK(compute_one(&m) == RULES_ERR);
	CHECK(rules_guarantee_check(RULES_CAT_MEDECINE_DOUCE, &g, "g", &m.err) == RULES_ERR);
	CHECK_EQ_STR(m.err.field, "g.annual_cents");
	/* A per-act forfait may still have an annual cap. */
	g.has = RULES_G_ANNUAL_CAP;
	g.annual_cap_cents = 10000;
	m.contract.g[RULES_CAT_MEDECINE_DOUCE] = g;
	REQUIRE(compute_one(&m) == RULES_OK);
	CHECK_EQ_I64(m.res[0].amc_cents, 7000);
}

/* More lines and history than the stack arena holds: one malloc. */
static void test_large_request(void)
{
	enum { N = 5000, H = 20000 };
	struct heap_request b;
	struct rules_totals t;
	struct rules_error err;
	int64_t pf = 0;

	REQUIRE(heap_request_new(&b, N, H) == 0);
	for (int i = 0; i < H; i++) {
		b.hist[i].date = rules_date_ymd(2024 + i % 3, 1 + i % 12, 1 + i % 28);
		b.hist[i].category = (enum rules_category)(i % RULES_CAT_COUNT);
		b.hist[i].pf_cents = i % 7 == 0 ? 200 : 0;
		b.hist[i].amc_cents = 100;
		b.hist[i].equipment = i % 50 == 0;
	}
	for (int i = 0; i < N; i++) {
		b.lines[i].date = rules_date_ymd(2025 + i % 2, 1 + i % 12, 1 + i % 28);
		b.lines[i].category = GP;
		b.lines[i].charged_cents = 3000;
		b.lines[i].brss_cents = 3000;
		b.lines[i].amo_rate = 70;
	}
	CHECK(rules_compute(&params, &b.req, b.res, &t, &err) == RULES_OK);
	for (int i = 0; i < N; i++) {
		check_balance(&b.res[i]);
		pf += b.res[i].pf_cents;
	}
	/* The history's PF (about 1,900 euros a year) is far above the
	 * yearly cap of 50 euros: none is left for the lines. A path that
	 * lost the history would withhold up to 50 euros a year. */
	CHECK_EQ_I64(pf, 0);
	CHECK_EQ_I64(t.charged_cents, (int64_t)N * 3000);
	heap_request_free(&b);
}

int main(void)
{
	RUN(load_params);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		current = &cases[i];
		printf("# %s\n", current->name);
		RUN(test_rule_case);
	}
	RUN(test_equipment_of_the_request_blocks);
	RUN(test_equipments_of_the_request_out_of_order);
	RUN(test_renewal_many_equipments);
	RUN(test_years_apart);
	RUN(test_cap_across_lines);
	RUN(test_act_tariff);
	RUN(test_act_tariff_of_two_crowns);
	RUN(test_line_tariff_check);
	RUN(test_engine_faults);
	RUN(test_fault_names_its_line);
	RUN(test_request_check);
	RUN(test_per_act_with_envelope_refused);
	RUN(test_large_request);
	return test_report();
}
