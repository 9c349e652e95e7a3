/*
 * NAME
 *	tpgate_eligibility.c - are a beneficiary's rights open on a day
 *
 * DESCRIPTION
 *	tp_rights_evaluate() answers ELIGIBILITY (ROC IDB) from a member's
 *	RightsSnapshot, without I/O, so it is tested alone:
 *
 *	- the beneficiary is the one the rank and birth date name, as
 *	  intake names them (common/beneficiary.h): with neither, the
 *	  subscriber; by rank, on the member's contract that covers the day
 *	  (else the last that covered some day, else the last); with a
 *	  birth date, that person under whichever of their rows, ranks
 *	  renumbered at a renewal notwithstanding; twins by birth date
 *	  alone are AMBIGUOUS_BENEFICIARY;
 *	- the rights are open on the day when the contract is not
 *	  suspended on it (a suspension covers the days from its first
 *	  one, or the whole period when it has none) and the day lies in
 *	  both the contract's and the beneficiary's periods; otherwise the
 *	  reason says why: CONTRACT_SUSPENDED, NOT_YET_COVERED,
 *	  RIGHTS_CLOSED;
 *	- a period that covers no day (a contract cancelled before it
 *	  began ends on its start date; a beneficiary who left before the
 *	  contract began) is RIGHTS_CLOSED whatever the day, suspended or
 *	  not: those rights were never open, and will not be;
 *	- the validity period is that of the tiers-payant attestation:
 *	  the coverage period cut to the calendar year of the day (the
 *	  attestation is renewed every year), ending the day before a
 *	  suspension to come; for closed rights, the period the rights had,
 *	  and none (has_validity 0) for a period that covered no day, or a
 *	  suspension from before the start: its last day would come before
 *	  its first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/beneficiary.h"
#include "common/xalloc.h"
#include "tpgate/tpgate.h"

static const Claims__RightsContract *contract_of(const Claims__RightsSnapshot *s, int64_t id)
{
	for (size_t i = 0; i < s->n_contracts; i++)
		if (s->contracts[i]->contract_id == id)
			return s->contracts[i];
	return NULL;
}

/* The coverage period of a beneficiary under its contract: [from, end). */
static void period(const Claims__RightsContract *c, const Claims__RightsBeneficiary *b,
		   int32_t *from, int32_t *end, int *open_ended)
{
	*from = c->start_day > b->start_day ? c->start_day : b->start_day;
	*open_ended = !c->has_end_day && !b->has_end_day;
	if (c->has_end_day && b->has_end_day)
		*end = c->end_day < b->end_day ? c->end_day : b->end_day;
	else
		*end = c->has_end_day ? c->end_day : b->end_day;
}

/* Is the contract suspended on the day? A suspension with no first day
 * (made before suspensions were dated, or by hand) covers its whole
 * period: nobody knows when it began. */
static int suspended_on(const Claims__RightsContract *c, int32_t day)
{
	if (c->status == NULL || strcmp(c->status, "suspended") != 0)
		return 0;
	return !c->has_suspended_from_day || day >= c->suspended_from_day;
}

static int32_t year_bound(int32_t day, int last)
{
	char iso[DATE_STR_LEN], bound[DATE_STR_LEN];
	int32_t out = day;

	date_format(day, iso);
	snprintf(bound, sizeof(bound), "%.4s-%s", iso, last ? "12-31" : "01-01");
	if (date_parse(bound, &out) != OK)
		return day;
	return out;
}

static void decide(struct tp_rights *out, int32_t day)
{
	int32_t from, end;
	int open_ended;

	period(out->contract, out->beneficiary, &from, &end, &open_ended);
	if (!open_ended && end <= from) {
		out->reason = "RIGHTS_CLOSED"; /* never open, no validity */
		return;
	}
	out->has_validity = 1;
	out->valid_from = from;
	out->valid_to = open_ended ? year_bound(day > from ? day : from, 1) : end - 1;
	if (suspended_on(out->contract, day)) {
		out->reason = "CONTRACT_SUSPENDED";
		/* The period the rights had ends the day before it. */
		if (out->contract->has_suspended_from_day &&
		    out->valid_to >= out->contract->suspended_from_day)
			out->valid_to = out->contract->suspended_from_day - 1;
	} else if (day < from) {
		out->reason = "NOT_YET_COVERED";
	} else if (!open_ended && day >= end) {
		out->reason = "RIGHTS_CLOSED";
	} else {
		int32_t jan1 = year_bound(day, 0), dec31 = year_bound(day, 1);

		out->open = 1;
		if (out->valid_from < jan1)
			out->valid_from = jan1;
		if (out->valid_to > dec31)
			out->valid_to = dec31;
		/* open today, suspended from a later day */
		if (out->contract->has_suspended_from_day &&
		    out->valid_to >= out->contract->suspended_from_day)
			out->valid_to = out->contract->suspended_from_day - 1;
	}
	/* Rights cut before they began (suspended from a day before the
	 * start): no period is theirs, none is given. */
	if (out->valid_to < out->valid_from)
		out->has_validity = out->valid_from = out->valid_to = 0;
}

/* The snapshot's rows as beneficiary_choose() reads them, and the
 * beneficiary each is (rows whose contract is missing left out). */
static size_t rows_of(const Claims__RightsSnapshot *s, struct beneficiary_row *rows,
		      const Claims__RightsBeneficiary **bens)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_beneficiaries; i++) {
		const Claims__RightsBeneficiary *b = s->beneficiaries[i];
		const Claims__RightsContract *c = contract_of(s, b->contract_id);
		struct beneficiary_row *r = &rows[n];

		if (c == NULL)
			continue;
		r->person_id = b->has_person_id ? b->person_id : 0;
		r->contract_id = c->contract_id;
		r->rank = b->rank;
		r->birth_date = b->birth_date;
		r->contract_start = c->start_day;
		period(c, b, &r->from, &r->end, &r->open_ended);
		bens[n++] = b;
	}
	return n;
}

void tp_rights_evaluate(const Claims__RightsSnapshot *s, const Claims__BeneficiaryRef *ref,
			int32_t day, struct tp_rights *out)
{
	struct beneficiary_row *rows = xcalloc(s->n_beneficiaries + 1, sizeof(*rows));
	const Claims__RightsBeneficiary **bens = xcalloc(s->n_beneficiaries + 1, sizeof(*bens));
	size_t n = rows_of(s, rows, bens), chosen = 0;

	memset(out, 0, sizeof(*out));
	out->reason = beneficiary_choose(rows, n, ref && ref->has_rank ? ref->rank : 0,
					 ref ? ref->birth_date : NULL, day, &chosen);
	if (out->reason == NULL) {
		out->beneficiary = bens[chosen];
		out->contract = contract_of(s, bens[chosen]->contract_id);
		decide(out, day);
	}
	free(rows);
	free(bens);
}
