/*
 * NAME
 *	rules_names.c - names of categories, baskets, lenses and rules
 *
 * DESCRIPTION
 *	The spelling of every enumeration of the simulate interface
 *	(domain reference section 4) and of the rule names that explain an
 *	amount. Rule names are stable: support staff, audit records and
 *	test vectors quote them; never rename one, add new ones instead.
 *	docs/rules.md explains each of them in French and in English.
 */
#include "rules/rules.h"

#include <string.h>

static const char *const category_names[RULES_CAT_COUNT] = {
	[RULES_CAT_CONSULT_GP] = "CONSULT_GP",
	[RULES_CAT_CONSULT_SPEC] = "CONSULT_SPEC",
	[RULES_CAT_TELECONSULT] = "TELECONSULT",
	[RULES_CAT_AUXILIAIRE] = "AUXILIAIRE",
	[RULES_CAT_BIOLOGIE] = "BIOLOGIE",
	[RULES_CAT_RADIOLOGIE] = "RADIOLOGIE",
	[RULES_CAT_PHARMA] = "PHARMA",
	[RULES_CAT_TRANSPORT] = "TRANSPORT",
	[RULES_CAT_HOSP_SEJOUR] = "HOSP_SEJOUR",
	[RULES_CAT_HOSP_HONORAIRES] = "HOSP_HONORAIRES",
	[RULES_CAT_HOSP_FJH] = "HOSP_FJH",
	[RULES_CAT_HOSP_CHAMBRE] = "HOSP_CHAMBRE",
	[RULES_CAT_DENT_SOINS] = "DENT_SOINS",
	[RULES_CAT_DENT_PROTHESE] = "DENT_PROTHESE",
	[RULES_CAT_DENT_ORTHO] = "DENT_ORTHO",
	[RULES_CAT_OPTIQUE_EQUIPEMENT] = "OPTIQUE_EQUIPEMENT",
	[RULES_CAT_OPTIQUE_LENTILLES] = "OPTIQUE_LENTILLES",
	[RULES_CAT_AUDIO] = "AUDIO",
	[RULES_CAT_MEDECINE_DOUCE] = "MEDECINE_DOUCE",
	[RULES_CAT_URGENCES_FPU] = "URGENCES_FPU",
};

static const char *const basket_names[] = {
	[RULES_BASKET_NONE] = NULL,
	[RULES_BASKET_100PS] = "100PS",
	[RULES_BASKET_MAITRISE] = "MAITRISE",
	[RULES_BASKET_LIBRE] = "LIBRE",
};

static const char *const lens_names[] = {
	[RULES_LENS_NONE] = NULL,
	[RULES_LENS_SIMPLE] = "simple",
	[RULES_LENS_COMPLEX] = "complex",
	[RULES_LENS_VERY_COMPLEX] = "very_complex",
};

static const char *const rule_names[RULES_R_COUNT] = {
	[RULES_R_ACT_TARIFF] = "ACT_TARIFF",
	[RULES_R_PF] = "PF",
	[RULES_R_PF_DAILY_CAP] = "PF_DAILY_CAP",
	[RULES_R_PF_ANNUAL_CAP] = "PF_ANNUAL_CAP",
	[RULES_R_PF_EXEMPT] = "PF_EXEMPT",
	[RULES_R_FRANCHISE] = "FRANCHISE",
	[RULES_R_FRANCHISE_DAILY_CAP] = "FRANCHISE_DAILY_CAP",
	[RULES_R_FRANCHISE_ANNUAL_CAP] = "FRANCHISE_ANNUAL_CAP",
	[RULES_R_FRANCHISE_EXEMPT] = "FRANCHISE_EXEMPT",
	[RULES_R_OUTSIDE_PARCOURS] = "OUTSIDE_PARCOURS",
	[RULES_R_RENEWAL_NOT_DUE] = "RENEWAL_NOT_DUE",
	[RULES_R_NO_GUARANTEE] = "NO_GUARANTEE",
	[RULES_R_TM_MANDATORY] = "TM_MANDATORY",
	[RULES_R_GUARANTEE_PCT] = "GUARANTEE_PCT",
	[RULES_R_NON_OPTAM_PCT] = "NON_OPTAM_PCT",
	[RULES_R_NON_OPTAM_CAP] = "NON_OPTAM_CAP",
	[RULES_R_TM_PCT_MIN] = "TM_PCT_MIN",
	[RULES_R_FRAIS_REELS] = "FRAIS_REELS",
	[RULES_R_PER_ACT_FORFAIT] = "PER_ACT_FORFAIT",
	[RULES_R_MAX_ACTS_REACHED] = "MAX_ACTS_REACHED",
	[RULES_R_EQUIPMENT_FORFAIT] = "EQUIPMENT_FORFAIT",
	[RULES_R_ANNUAL_ENVELOPE] = "ANNUAL_ENVELOPE",
	[RULES_R_ANNUAL_ENVELOPE_USED_UP] = "ANNUAL_ENVELOPE_USED_UP",
	[RULES_R_ANNUAL_CAP] = "ANNUAL_CAP",
	[RULES_R_OPTICS_CEILING] = "OPTICS_CEILING",
	[RULES_R_FRAME_CAP] = "FRAME_CAP",
	[RULES_R_AUDIO_CEILING] = "AUDIO_CEILING",
	[RULES_R_TM_FLOOR] = "TM_FLOOR",
	[RULES_R_FJH_FULL] = "FJH_FULL",
	[RULES_R_100PS] = "100PS",
	[RULES_R_ROOM_CLAMP] = "ROOM_CLAMP",
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *name_of(const char *const *names, int n, int v)
{
	if (v < 0 || v >= n)
		return NULL;
	return names[v];
}

static int index_of(const char *const *names, int n, const char *s)
{
	if (s == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return i;
	return -1;
}

const char *rules_category_name(int cat)
{
	return name_of(category_names, COUNT(category_names), cat);
}

int rules_category_parse(const char *s, enum rules_category *out)
{
	int i = index_of(category_names, COUNT(category_names), s);

	if (i < 0)
		return RULES_ERR;
	*out = (enum rules_category)i;
	return RULES_OK;
}

const char *rules_basket_name(int basket)
{
	return name_of(basket_names, COUNT(basket_names), basket);
}

int rules_basket_parse(const char *s, enum rules_basket *out)
{
	int i = index_of(basket_names, COUNT(basket_names), s);

	if (i < 0)
		return RULES_ERR;
	*out = (enum rules_basket)i;
	return RULES_OK;
}

const char *rules_lens_name(int lens)
{
	return name_of(lens_names, COUNT(lens_names), lens);
}

int rules_lens_parse(const char *s, enum rules_lens *out)
{
	int i = index_of(lens_names, COUNT(lens_names), s);

	if (i < 0)
		return RULES_ERR;
	*out = (enum rules_lens)i;
	return RULES_OK;
}

int rules_exempt_parse(const char *s, unsigned *flag)
{
	if (s != NULL && strcmp(s, "C2S") == 0)
		*flag = RULES_EXEMPT_C2S;
	else if (s != NULL && strcmp(s, "MATERNITY") == 0)
		*flag = RULES_EXEMPT_MATERNITY;
	else
		return RULES_ERR;
	return RULES_OK;
}

const char *rules_rule_name(int rule)
{
	return name_of(rule_names, COUNT(rule_names), rule);
}

int rules_rule_parse(const char *s, enum rules_rule *out)
{
	int i = index_of(rule_names, COUNT(rule_names), s);

	if (i < 0)
		return RULES_ERR;
	*out = (enum rules_rule)i;
	return RULES_OK;
}
