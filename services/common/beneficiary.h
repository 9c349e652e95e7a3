/*
 * NAME
 *	beneficiary.h - who a membership number, a rank and a birth date name
 *
 * SYNOPSIS
 *	struct beneficiary_row rows[n];	// every row of the member's contracts
 *	size_t chosen;
 *	const char *why = beneficiary_choose(rows, n, rank, birth, day, &chosen);
 *	if (why != NULL)
 *		... UNKNOWN_BENEFICIARY, BENEFICIARY_MISMATCH or AMBIGUOUS_BENEFICIARY ...
 *
 * DESCRIPTION
 *	One answer for intake (a claim, an invoice) and the tiers-payant
 *	front door (ELIGIBILITY, QUOTE, the invoice it forwards): a quote and
 *	the invoice after it must be for the same person, and two copies of
 *	the rule could drift apart. Pure: no I/O.
 *
 *	Ranks are per contract (1 subscriber, 2 spouse, 3... children), and
 *	a renewal may renumber them; a person's rows on the member's
 *	contracts share a person id (beneficiaries.person_id, migration 023).
 *	Of the rows a naming keeps, the one whose coverage period holds the
 *	day wins, else one whose period covers some day (not a contract
 *	cancelled before it began), else the one of the contract that
 *	started last (the higher contract id on a tie; the lower rank for
 *	one person twice on a contract, joined by hand):
 *
 *	- neither rank nor birth date: rank 1, the subscriber;
 *	- a rank alone: whoever holds it, on the contract so chosen;
 *	- a rank and a birth date: that row, when it covers the day and its
 *	  birth date is the one given (the card of the day); else the person
 *	  born that day who
 *	  holds that rank on another of the member's contracts (this year's
 *	  card for last year's care, ranks renumbered since), whose row is
 *	  then chosen among theirs; nobody: BENEFICIARY_MISMATCH when the
 *	  rank exists, UNKNOWN_BENEFICIARY when it does not;
 *	- a birth date alone: the person born that day, whose row is chosen
 *	  among theirs; two persons (twins): AMBIGUOUS_BENEFICIARY; nobody:
 *	  UNKNOWN_BENEFICIARY.
 */
#ifndef COMMON_BENEFICIARY_H
#define COMMON_BENEFICIARY_H

#include <stddef.h>
#include <stdint.h>

struct beneficiary_row {
	int64_t person_id; /* > 0; 0 unknown: the row is a person of its own */
	int64_t contract_id;
	uint32_t rank;
	const char *birth_date; /* YYYY-MM-DD */
	int32_t contract_start; /* days since 1970-01-01 */
	/* The coverage period, [from, end) in days; open_ended: no end. */
	int32_t from, end;
	int open_ended;
};

/* NULL, and *chosen the index of the row named; else the reason, a
 * static string. rank 0 is none; birth NULL or "" none; day in days
 * since 1970-01-01. */
const char *beneficiary_choose(const struct beneficiary_row *rows, size_t n, uint32_t rank,
			       const char *birth, int32_t day, size_t *chosen);

#endif
