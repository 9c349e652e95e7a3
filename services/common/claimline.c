/*
 * NAME
 *	claimline.c - a claim line of the protocol as a line of the rules engine
 *
 * DESCRIPTION
 *	See claimline.h. The engine's defaults (rules_line_init()) are the
 *	protocol's: quantity 1, OPTAM and parcours true; what the sender
 *	gave is marked given, so that the act table fills only the rest.
 */
#include "common/claimline.h"

int claim_line_to_rules(const Claims__ClaimLine *p, struct rules_line *l)
{
	rules_line_init(l);
	l->id = p->line_ref;
	/* An empty act code is no act code (docs/protocol.md: an empty
	 * value counts as absent); the engine would refuse "". */
	l->act = p->act_code != NULL && p->act_code[0] != '\0' ? p->act_code : NULL;
	l->charged_cents = p->charged_cents;
	l->quantity = (int32_t)p->quantity;
	l->optam = p->optam;
	l->parcours = p->parcours;
	if (p->has_brss_cents) {
		l->given |= RULES_GIVEN_BRSS;
		l->brss_cents = p->brss_cents;
	}
	if (p->has_amo_rate) {
		l->given |= RULES_GIVEN_AMO_RATE;
		l->amo_rate = (int32_t)p->amo_rate;
	}
	if (p->has_price_limit_cents) {
		l->given |= RULES_GIVEN_PRICE_LIMIT;
		l->price_limit_cents = p->price_limit_cents;
	}
	if (p->basket != NULL && rules_basket_parse(p->basket, &l->basket) != RULES_OK)
		l->basket = RULES_BASKET_NONE;
	for (size_t k = 0; k < p->n_lenses && k < 2; k++)
		if (rules_lens_parse(p->lenses[k], &l->lenses[k]) != RULES_OK)
			l->lenses[k] = RULES_LENS_NONE;
	if (p->has_frame_charged_cents)
		l->frame_charged_cents = p->frame_charged_cents;
	if (p->care_date == NULL || rules_date_parse(p->care_date, &l->date) != RULES_OK ||
	    p->category == NULL || rules_category_parse(p->category, &l->category) != RULES_OK)
		return ERR;
	return OK;
}
