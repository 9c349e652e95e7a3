/*
 * NAME
 *	tpgate_eligibility.c - are a beneficiary's rights open on a day
 *
 * DESCRIPTION
 *	tp_rights_evaluate() answers ELIGIBILITY (ROC IDB) from a member's
 *	RightsSnapshot, without I/O, so it is tested alone:
 *
 *	- the beneficiary is named by rank, birth date, or both (then both
 *	  must match on one of the member's contracts); with neither, the
 *	  subscriber (rank 1). A birth date shared by two persons (twins) is
 *	  AMBIGUOUS_BENEFICIARY: the rank is needed;
 *	- a member may have had several contracts: the one covering the day
 *	  wins, else the most recent of those that covered some day, else
 *	  the most recent. Named by rank alone, it is whoever
 *	  holds that rank there. Named with a birth date, it is that person
 *	  under whichever of their rows: ranks are per contract, and a
 *	  renewal may renumber them (a child rank 2 last year, rank 3 now);
 *	  the rank on this year's card must not name last year's rank 3, a
 *	  sibling, for care of last year;
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

/* Does the period cover no day at all (its end on or before its start)? */
static int empty(const Claims__RightsContract *c, const Claims__RightsBeneficiary *b)
{
	int32_t from, end;
	int open_ended;

	period(c, b, &from, &end, &open_ended);
	return !open_ended && end <= from;
}

static int covers(const Claims__RightsContract *c, const Claims__RightsBeneficiary *b, int32_t day)
{
	int32_t from, end;
	int open_ended;

	period(c, b, &from, &end, &open_ended);
	return day >= from && (open_ended || day < end);
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

/* Better candidate: covers the day, else covered some day, else starts
 * later. A renewal cancelled before it began starts after the contract
 * the member had: that one says how the rights ended, and until when. */
static int better(const Claims__RightsContract *c, const Claims__RightsBeneficiary *b,
		  const struct tp_rights *best, int32_t day)
{
	int covers_now = covers(c, b, day);
	int best_covers = covers(best->contract, best->beneficiary, day);
	int held = !empty(c, b), best_held = !empty(best->contract, best->beneficiary);

	if (covers_now != best_covers)
		return covers_now;
	if (held != best_held)
		return held;
	return c->start_day > best->contract->start_day;
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

/* Who a row is. A snapshot cached before rows carried their person
 * (person_id absent in all its rows) tells persons apart by rank, as the
 * front door did then: never a real id (ids are positive). */
static int64_t person_of(const Claims__RightsBeneficiary *b)
{
	return b->has_person_id ? b->person_id : -1 - (int64_t)b->rank;
}

/* The row to judge the day by, of the rows `wanted` keeps. */
static void choose(const Claims__RightsSnapshot *s, int32_t day, struct tp_rights *out,
		   int (*wanted)(const Claims__RightsBeneficiary *, const void *), const void *arg)
{
	for (size_t i = 0; i < s->n_beneficiaries; i++) {
		const Claims__RightsBeneficiary *b = s->beneficiaries[i];
		const Claims__RightsContract *c = contract_of(s, b->contract_id);

		if (c == NULL || !wanted(b, arg))
			continue;
		if (out->beneficiary == NULL || better(c, b, out, day)) {
			out->contract = c;
			out->beneficiary = b;
		}
	}
}

static int of_rank(const Claims__RightsBeneficiary *b, const void *rank)
{
	return b->rank == *(const uint32_t *)rank;
}

struct named {
	int64_t person;
	const char *birth;
};

/* The person's rows; in a snapshot without persons, those of their rank
 * and birth date (the rows that named them). */
static int of_person(const Claims__RightsBeneficiary *b, const void *arg)
{
	const struct named *who = arg;

	return person_of(b) == who->person &&
	       (b->has_person_id ||
		(b->birth_date != NULL && strcmp(b->birth_date, who->birth) == 0));
}

void tp_rights_evaluate(const Claims__RightsSnapshot *s, const Claims__BeneficiaryRef *ref,
			int32_t day, struct tp_rights *out)
{
	const char *birth = ref && ref->birth_date && ref->birth_date[0] ? ref->birth_date : NULL;
	uint32_t rank = ref && ref->has_rank ? ref->rank : 0;
	int mismatch = 0, ambiguous = 0, found = 0;
	struct named who = {0, birth};

	memset(out, 0, sizeof(*out));
	if (birth == NULL) {
		choose(s, day, out, of_rank, rank == 0 ? &(uint32_t){1} : &rank);
		if (out->beneficiary == NULL) {
			out->reason = "UNKNOWN_BENEFICIARY";
			return;
		}
		decide(out, day);
		return;
	}
	/* Who the birth date (and the rank, when given) names. */
	for (size_t i = 0; i < s->n_beneficiaries; i++) {
		const Claims__RightsBeneficiary *b = s->beneficiaries[i];

		if (contract_of(s, b->contract_id) == NULL || (rank != 0 && b->rank != rank))
			continue;
		if (b->birth_date == NULL || strcmp(b->birth_date, birth) != 0) {
			/* With a rank, that beneficiary exists and the date is
			 * not theirs; with the date alone, nobody has it. */
			mismatch |= rank != 0;
			continue;
		}
		ambiguous |= found && person_of(b) != who.person;
		who.person = person_of(b);
		found = 1;
	}
	if (found && !ambiguous)
		choose(s, day, out, of_person, &who);
	if (ambiguous) {
		out->contract = NULL;
		out->beneficiary = NULL;
		out->reason = "AMBIGUOUS_BENEFICIARY";
		return;
	}
	if (out->beneficiary == NULL) {
		out->reason = mismatch ? "BENEFICIARY_MISMATCH" : "UNKNOWN_BENEFICIARY";
		return;
	}
	decide(out, day);
}
