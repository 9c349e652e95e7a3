/*
 * test_beneficiary.c - beneficiary_choose(): who a rank and a birth date
 * name among a member's rows, the rule intake and the tiers-payant front
 * door share (common/beneficiary.h)
 *
 * The cases tpgate's own tests (test_tp_eligibility.c) reach only
 * through a snapshot: no rows, ties, cancelled contracts, twins named
 * with a rank on a day no contract covers, and the invoice that must
 * reach intake with the rank as the professional gave it.
 */
#include "common/beneficiary.h"
#include "test.h"

/* Days since 1970-01-01 of 1 January of the years used here. */
#define Y2024 19723
#define Y2025 (Y2024 + 366)
#define Y2026 (Y2025 + 365)
#define Y2027 (Y2026 + 365)
#define MARCH 59 /* 1 March, from 1 January of a common year */

static struct beneficiary_row row(int64_t person, int64_t contract, uint32_t rank,
				  const char *birth, int32_t from, int32_t end)
{
	struct beneficiary_row r = {.person_id = person,
				    .contract_id = contract,
				    .rank = rank,
				    .birth_date = birth,
				    .contract_start = from,
				    .from = from,
				    .end = end,
				    .open_ended = end == 0};
	return r;
}

static const char *choose(const struct beneficiary_row *rows, size_t n, uint32_t rank,
			  const char *birth, int32_t day, size_t *chosen)
{
	*chosen = (size_t)-1;
	return beneficiary_choose(rows, n, rank, birth, day, chosen);
}

static void test_no_rows(void)
{
	size_t chosen;

	CHECK_EQ_STR(choose(NULL, 0, 0, NULL, Y2026, &chosen), "UNKNOWN_BENEFICIARY");
	CHECK_EQ_STR(choose(NULL, 0, 2, NULL, Y2026, &chosen), "UNKNOWN_BENEFICIARY");
	CHECK_EQ_STR(choose(NULL, 0, 0, "2018-01-01", Y2026, &chosen), "UNKNOWN_BENEFICIARY");
	CHECK_EQ_STR(choose(NULL, 0, 3, "2018-01-01", Y2026, &chosen), "UNKNOWN_BENEFICIARY");
}

/* A rank nobody holds, with a birth date nobody has: unknown; with the
 * birth date of someone of another rank on no contract: still unknown,
 * not a mismatch (no row of that rank to mismatch). */
static void test_rank_absent(void)
{
	struct beneficiary_row rows[] = {
		row(1, 10, 1, "1980-05-05", Y2026, 0),
		row(2, 10, 2, "1982-06-06", Y2026, 0),
	};
	size_t chosen;

	CHECK_EQ_STR(choose(rows, 2, 5, "2018-01-01", Y2026 + 10, &chosen), "UNKNOWN_BENEFICIARY");
	CHECK_EQ_STR(choose(rows, 2, 5, "1982-06-06", Y2026 + 10, &chosen), "UNKNOWN_BENEFICIARY");
	CHECK_EQ_STR(choose(rows, 2, 2, "1999-01-01", Y2026 + 10, &chosen), "BENEFICIARY_MISMATCH");
	CHECK(choose(rows, 2, 0, "1982-06-06", Y2026 + 10, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 1);
}

/* Care before every contract, or after the last: the person is still
 * named (the caller says the rights are not open), on the row that
 * held some day, not on a renewal cancelled before it began. */
static void test_day_outside_every_contract(void)
{
	struct beneficiary_row rows[] = {
		row(1, 10, 1, "1980-05-05", Y2025, Y2026),
		row(1, 11, 1, "1980-05-05", Y2026, Y2026), /* cancelled renewal */
	};
	size_t chosen;

	CHECK(choose(rows, 2, 0, "1980-05-05", Y2027, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
	CHECK(choose(rows, 2, 0, "1980-05-05", Y2024, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
	CHECK(choose(rows, 2, 1, NULL, Y2027, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
}

/* Two contracts starting the same day (a data fix, a duplicated
 * renewal): the higher contract id, whatever the order of the rows. */
static void test_tie_on_contract_start(void)
{
	struct beneficiary_row rows[] = {
		row(1, 21, 1, "1980-05-05", Y2026, 0),
		row(1, 20, 1, "1980-05-05", Y2026, 0),
	};
	struct beneficiary_row reversed[] = {rows[1], rows[0]};
	size_t chosen;

	CHECK(choose(rows, 2, 1, NULL, Y2026 + 3, &chosen) == NULL);
	CHECK_EQ_I64(rows[chosen].contract_id, 21);
	CHECK(choose(reversed, 2, 1, NULL, Y2026 + 3, &chosen) == NULL);
	CHECK_EQ_I64(reversed[chosen].contract_id, 21);
	CHECK(choose(reversed, 2, 0, "1980-05-05", Y2026 + 3, &chosen) == NULL);
	CHECK_EQ_I64(reversed[chosen].contract_id, 21);
}

/* One person twice on a contract (person_id joined by hand): the lower
 * rank, whatever the order of the rows. */
static void test_person_twice_on_a_contract(void)
{
	struct beneficiary_row rows[] = {
		row(5, 10, 4, "2018-01-01", Y2026, 0),
		row(5, 10, 3, "2018-01-01", Y2026, 0),
	};
	struct beneficiary_row reversed[] = {rows[1], rows[0]};
	size_t chosen;

	CHECK(choose(rows, 2, 0, "2018-01-01", Y2026 + 3, &chosen) == NULL);
	CHECK_EQ_I64(rows[chosen].rank, 3);
	CHECK(choose(reversed, 2, 0, "2018-01-01", Y2026 + 3, &chosen) == NULL);
	CHECK_EQ_I64(reversed[chosen].rank, 3);
}

/* One person on two overlapping contracts (a renewal entered before the
 * old one was ended): the one covering the day, else the later. */
static void test_same_person_overlapping(void)
{
	struct beneficiary_row rows[] = {
		row(1, 10, 1, "1980-05-05", Y2025, 0),
		row(1, 11, 1, "1980-05-05", Y2026, Y2027),
	};
	size_t chosen;

	CHECK(choose(rows, 2, 1, NULL, Y2025 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
	CHECK(choose(rows, 2, 1, NULL, Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 1);
	CHECK(choose(rows, 2, 0, "1980-05-05", Y2027 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
}

/* Twins whose ranks were renumbered: named by rank and birth date on a
 * day no contract of that rank covers, the rank alone names one of
 * them; a birth date alone names both. */
static void test_twins(void)
{
	struct beneficiary_row rows[] = {
		row(7, 10, 3, "2018-01-01", Y2024, Y2025), /* Paul, 2024 */
		row(8, 10, 4, "2018-01-01", Y2024, Y2025), /* Lou, 2024 */
		row(7, 11, 4, "2018-01-01", Y2025, Y2026), /* Paul, 2025 */
		row(8, 11, 5, "2018-01-01", Y2025, Y2026), /* Lou, 2025 */
		row(8, 12, 4, "2018-01-01", Y2026, 0),	   /* Lou alone, 2026 */
	};
	size_t chosen;

	CHECK_EQ_STR(choose(rows, 5, 0, "2018-01-01", Y2026 + MARCH, &chosen),
		     "AMBIGUOUS_BENEFICIARY");
	/* Rank 4 on the card of 2026 covering the day: Lou. */
	CHECK(choose(rows, 5, 4, "2018-01-01", Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 4);
	/* Rank 3, last held by Paul in 2024: Paul, on his latest row (his
	 * rights are closed; the caller says so), not Lou who is covered. */
	CHECK(choose(rows, 5, 3, "2018-01-01", Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 2);
	/* The rank of the row so found (4) would name Lou: an invoice goes
	 * to intake with the rank as given, never with the found row's. */
	CHECK(choose(rows, 5, rows[2].rank, "2018-01-01", Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(rows[chosen].person_id, 8);
	/* Rank 4 in March 2025: Paul's 2025 card covers the day. */
	CHECK(choose(rows, 5, 4, "2018-01-01", Y2025 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 2);
	/* Without Lou's 2026 card (the first four rows), rank 4 in March
	 * 2026 is held by both twins on contracts that ended: ambiguous. */
	CHECK_EQ_STR(choose(rows, 4, 4, "2018-01-01", Y2026 + MARCH, &chosen),
		     "AMBIGUOUS_BENEFICIARY");
}

/* Rows without a person id (written before persons were kept) are each
 * a person of their own: one person on two contracts looks like two. */
static void test_rows_without_person(void)
{
	struct beneficiary_row rows[] = {
		row(0, 10, 2, "1982-06-06", Y2025, Y2026),
		row(0, 11, 2, "1982-06-06", Y2026, 0),
	};
	size_t chosen;

	CHECK(choose(rows, 2, 2, NULL, Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 1);
	CHECK(choose(rows, 2, 2, "1982-06-06", Y2026 + MARCH, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 1);
	CHECK_EQ_STR(choose(rows, 2, 0, "1982-06-06", Y2026 + MARCH, &chosen),
		     "AMBIGUOUS_BENEFICIARY");
}

/* An empty birth date is none. */
static void test_empty_birth_date(void)
{
	struct beneficiary_row rows[] = {
		row(1, 10, 1, "1980-05-05", Y2026, 0),
		row(2, 10, 2, "1982-06-06", Y2026, 0),
	};
	size_t chosen;

	CHECK(choose(rows, 2, 0, "", Y2026, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 0);
	CHECK(choose(rows, 2, 2, "", Y2026, &chosen) == NULL);
	CHECK_EQ_I64(chosen, 1);
}

int main(void)
{
	RUN(test_no_rows);
	RUN(test_rank_absent);
	RUN(test_day_outside_every_contract);
	RUN(test_tie_on_contract_start);
	RUN(test_same_person_overlapping);
	RUN(test_person_twice_on_a_contract);
	RUN(test_twins);
	RUN(test_rows_without_person);
	RUN(test_empty_birth_date);
	return test_report();
}
