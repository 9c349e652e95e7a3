/*
 * NAME
 *	beneficiary.c - who a membership number, a rank and a birth date name
 *
 * DESCRIPTION
 *	beneficiary_choose(): see beneficiary.h. Rows are few (a family on
 *	a contract or two), so each naming is a pass over them.
 */
#include <string.h>

#include "common/beneficiary.h"

static int covers(const struct beneficiary_row *r, int32_t day)
{
	return day >= r->from && (r->open_ended || day < r->end);
}

/* Does the period cover some day (not a contract cancelled before it
 * began, ending on its start)? */
static int held(const struct beneficiary_row *r)
{
	return r->open_ended || r->end > r->from;
}

/* Is a the better row for the day than b? The one covering it; else one
 * that covered some day (a renewal cancelled before it began starts
 * after the contract the member had: that one says how the rights
 * ended); else the later contract; else the lower rank. */
static int better(const struct beneficiary_row *a, const struct beneficiary_row *b, int32_t day)
{
	if (covers(a, day) != covers(b, day))
		return covers(a, day);
	if (held(a) != held(b))
		return held(a);
	if (a->contract_start != b->contract_start)
		return a->contract_start > b->contract_start;
	if (a->contract_id != b->contract_id)
		return a->contract_id > b->contract_id;
	/* One person twice on a contract (person_id set by hand): the lower
	 * rank, whatever order the caller read the rows in. */
	return a->rank < b->rank;
}

/* A row without a known person is a person of its own. */
static int64_t person_of(const struct beneficiary_row *rows, size_t i)
{
	return rows[i].person_id > 0 ? rows[i].person_id : -1 - (int64_t)i;
}

static int born(const struct beneficiary_row *r, const char *birth)
{
	return r->birth_date != NULL && strcmp(r->birth_date, birth) == 0;
}

/* The best row of rank `rank` (any rank: 0) and person `person` (any: 0). */
static int best_of(const struct beneficiary_row *rows, size_t n, uint32_t rank, int64_t person,
		   int32_t day, size_t *chosen)
{
	int found = 0;

	for (size_t i = 0; i < n; i++) {
		if ((rank != 0 && rows[i].rank != rank) ||
		    (person != 0 && person_of(rows, i) != person))
			continue;
		if (!found || better(&rows[i], &rows[*chosen], day))
			*chosen = i;
		found = 1;
	}
	return found;
}

const char *beneficiary_choose(const struct beneficiary_row *rows, size_t n, uint32_t rank,
			       const char *birth, int32_t day, size_t *chosen)
{
	int64_t person = 0;
	int rank_exists = 0;

	if (birth != NULL && birth[0] == '\0')
		birth = NULL;
	if (birth == NULL)
		return best_of(rows, n, rank != 0 ? rank : 1, 0, day, chosen)
			       ? NULL
			       : "UNKNOWN_BENEFICIARY";
	/* The card of the day: the row of that rank on the contract covering
	 * the day, born that day. */
	if (rank != 0 && best_of(rows, n, rank, 0, day, chosen)) {
		if (born(&rows[*chosen], birth) && covers(&rows[*chosen], day))
			return NULL;
		rank_exists = 1;
	}
	/* Else the person born that day (holding that rank on one of the
	 * member's contracts, when a rank is given), under their best row. */
	for (size_t i = 0; i < n; i++) {
		if ((rank != 0 && rows[i].rank != rank) || !born(&rows[i], birth))
			continue;
		if (person != 0 && person_of(rows, i) != person)
			return "AMBIGUOUS_BENEFICIARY";
		person = person_of(rows, i);
	}
	if (person == 0)
		return rank_exists ? "BENEFICIARY_MISMATCH" : "UNKNOWN_BENEFICIARY";
	return best_of(rows, n, 0, person, day, chosen) ? NULL : "UNKNOWN_BENEFICIARY";
}
