/*
 * NAME
 *	test_tp_eligibility.c - whose rights are open on a day (front door)
 *
 * DESCRIPTION
 *	White-box tests of tpgate_eligibility.c (included here): naming the
 *	beneficiary by rank and birth date, choosing among a member's
 *	contracts, the reasons rights are not open, the validity period
 *	of the attestation, and a contract cancelled before it began; a
 *	person whose rank a renewal changed, named by this year's card for
 *	care of last year.
 */
#include "../../services/tpgate/tpgate_eligibility.c"
#include "test.h"

static Claims__RightsContract contracts[4];
static Claims__RightsContract *contract_ptrs[4];
static Claims__RightsBeneficiary bens[10];
static Claims__RightsBeneficiary *ben_ptrs[10];
static Claims__RightsSnapshot snap;

static int32_t day(const char *iso)
{
	int32_t d = 0;

	if (date_parse(iso, &d) != OK)
		printf("  bad date %s\n", iso);
	return d;
}

static void add_contract(int64_t id, const char *status, const char *from, const char *to)
{
	Claims__RightsContract *c = &contracts[snap.n_contracts];

	claims__rights_contract__init(c);
	c->has_contract_id = c->has_start_day = c->has_responsible = 1;
	c->contract_id = id;
	c->formula_code = "CONFORT";
	c->amc_number = "75500017";
	c->status = (char *)status;
	c->start_day = day(from);
	c->responsible = 1;
	if (to != NULL) {
		c->has_end_day = 1;
		c->end_day = day(to);
	}
	contract_ptrs[snap.n_contracts++] = c;
}

static void add_beneficiary(int64_t id, int64_t contract, uint32_t rank, const char *birth,
			    const char *from)
{
	Claims__RightsBeneficiary *b = &bens[snap.n_beneficiaries];

	claims__rights_beneficiary__init(b);
	b->has_beneficiary_id = b->has_contract_id = b->has_rank = b->has_start_day = 1;
	b->beneficiary_id = id;
	b->contract_id = contract;
	b->rank = rank;
	b->birth_date = (char *)birth;
	b->start_day = day(from);
	ben_ptrs[snap.n_beneficiaries++] = b;
}

/* The person of the beneficiary added last. */
static void person(int64_t id)
{
	bens[snap.n_beneficiaries - 1].has_person_id = 1;
	bens[snap.n_beneficiaries - 1].person_id = id;
}

static void reset(void)
{
	memset(&snap, 0, sizeof(snap));
	claims__rights_snapshot__init(&snap);
	snap.contracts = contract_ptrs;
	snap.beneficiaries = ben_ptrs;
}

/* A family: subscriber, spouse, twins, on one contract from 2025-01-01. */
static void family(const char *status, const char *end)
{
	reset();
	add_contract(10, status, "2025-01-01", end);
	add_beneficiary(1, 10, 1, "1980-05-01", "2025-01-01");
	add_beneficiary(2, 10, 2, "1982-07-14", "2025-01-01");
	add_beneficiary(3, 10, 3, "2015-02-03", "2025-06-01");
	add_beneficiary(4, 10, 4, "2015-02-03", "2025-06-01");
}

static void evaluate(uint32_t rank, const char *birth, const char *on, struct tp_rights *r)
{
	Claims__BeneficiaryRef ref = CLAIMS__BENEFICIARY_REF__INIT;

	ref.membership_number = "1000000016";
	ref.has_rank = rank > 0;
	ref.rank = rank;
	ref.birth_date = (char *)birth;
	tp_rights_evaluate(&snap, &ref, day(on), r);
}

/* The last day of rank's attestation on day `on`, or "closed: REASON". */
static const char *rights_until(uint32_t rank, const char *on)
{
	static char out[64];
	struct tp_rights r;

	evaluate(rank, NULL, on, &r);
	if (!r.open)
		snprintf(out, sizeof(out), "closed: %s", r.reason);
	else
		date_format(r.valid_to, out);
	return out;
}

static void test_subscriber_by_default(void)
{
	struct tp_rights r;
	char from[DATE_STR_LEN], to[DATE_STR_LEN];

	family("active", NULL);
	evaluate(0, NULL, "2026-03-10", &r);
	REQUIRE(r.open && r.beneficiary != NULL);
	CHECK_EQ_I64(r.beneficiary->beneficiary_id, 1);
	date_format(r.valid_from, from);
	date_format(r.valid_to, to);
	CHECK_EQ_STR(from, "2026-01-01"); /* the attestation's year */
	CHECK_EQ_STR(to, "2026-12-31");
}

static void test_by_birth_date_and_rank(void)
{
	struct tp_rights r;

	family("active", NULL);
	evaluate(0, "1982-07-14", "2026-03-10", &r);
	CHECK(r.open && r.beneficiary->rank == 2);
	evaluate(0, "2015-02-03", "2026-03-10", &r); /* twins */
	CHECK(!r.open && strcmp(r.reason, "AMBIGUOUS_BENEFICIARY") == 0);
	evaluate(4, "2015-02-03", "2026-03-10", &r);
	CHECK(r.open && r.beneficiary->beneficiary_id == 4);
	evaluate(1, "2015-02-03", "2026-03-10", &r);
	CHECK(!r.open && strcmp(r.reason, "BENEFICIARY_MISMATCH") == 0);
	evaluate(7, NULL, "2026-03-10", &r);
	CHECK(!r.open && strcmp(r.reason, "UNKNOWN_BENEFICIARY") == 0);
	/* A birth date alone that nobody has: nobody, not a mismatch. */
	evaluate(0, "1999-01-01", "2026-03-10", &r);
	CHECK(!r.open && strcmp(r.reason, "UNKNOWN_BENEFICIARY") == 0);
}

static void test_periods(void)
{
	struct tp_rights r;
	char from[DATE_STR_LEN];

	family("active", NULL);
	evaluate(3, NULL, "2025-03-01", &r); /* the child joined in June */
	CHECK(!r.open && strcmp(r.reason, "NOT_YET_COVERED") == 0);
	evaluate(3, NULL, "2025-08-01", &r);
	REQUIRE(r.open);
	date_format(r.valid_from, from);
	CHECK_EQ_STR(from, "2025-06-01");
	family("terminated", "2026-06-01");
	CHECK_EQ_STR(rights_until(1, "2026-05-31"), "2026-05-31");
	CHECK_EQ_STR(rights_until(1, "2026-06-01"), "closed: RIGHTS_CLOSED");
	family("suspended", NULL);
	evaluate(1, NULL, "2026-03-10", &r);
	CHECK(!r.open && strcmp(r.reason, "CONTRACT_SUSPENDED") == 0);
	evaluate(1, NULL, "2025-01-02", &r); /* a suspension with no day: all of it */
	CHECK(!r.open && strcmp(r.reason, "CONTRACT_SUSPENDED") == 0);
}

/* A suspension from a day: the days before it are covered, and the
 * attestation of such a day ends the day before the suspension. */
static void test_suspension_from_a_day(void)
{
	family("suspended", NULL);
	contracts[0].has_suspended_from_day = 1;
	contracts[0].suspended_from_day = day("2026-11-01");
	CHECK_EQ_STR(rights_until(1, "2026-10-31"), "2026-10-31");
	CHECK_EQ_STR(rights_until(1, "2026-11-01"), "closed: CONTRACT_SUSPENDED");
	/* a year before: that year's attestation */
	CHECK_EQ_STR(rights_until(1, "2025-03-10"), "2025-12-31");
	/* Closed by the suspension: the period the rights had ends the day
	 * before it, not at the contract's end. */
	{
		struct tp_rights r;
		char to[DATE_STR_LEN];

		evaluate(1, NULL, "2026-12-01", &r);
		REQUIRE(!r.open);
		date_format(r.valid_to, to);
		CHECK_EQ_STR(to, "2026-10-31");
	}
}

static void test_several_contracts(void)
{
	struct tp_rights r;

	reset();
	add_contract(10, "terminated", "2020-01-01", "2025-01-01");
	add_contract(11, "active", "2025-01-01", NULL);
	add_beneficiary(1, 10, 1, "1980-05-01", "2020-01-01");
	add_beneficiary(2, 11, 1, "1980-05-01", "2025-01-01");
	evaluate(1, NULL, "2024-05-05", &r); /* care under the old contract */
	CHECK(r.open && r.contract->contract_id == 10);
	evaluate(1, NULL, "2026-05-05", &r);
	CHECK(r.open && r.contract->contract_id == 11);
	evaluate(1, NULL, "2019-05-05", &r); /* before both: the most recent says why */
	CHECK(!r.open && r.contract->contract_id == 11);
}

/* A contract cancelled before it began ends on its start date: an
 * empty period. Its rights are closed whatever the day (never "not yet"),
 * with no validity (its last day would come before its first), and a
 * member's earlier contract, which did cover days, says how the rights
 * ended rather than the cancelled renewal that starts after it. */
static void test_cancelled_contract(void)
{
	struct tp_rights r;
	char from[DATE_STR_LEN], to[DATE_STR_LEN];

	reset();
	add_contract(10, "terminated", "2025-01-01", "2026-01-01");
	add_contract(11, "terminated", "2026-01-01", "2026-01-01"); /* the renewal, cancelled */
	add_beneficiary(1, 10, 1, "1980-05-01", "2025-01-01");
	add_beneficiary(2, 11, 1, "1980-05-01", "2026-01-01");
	evaluate(1, NULL, "2025-06-01", &r);
	CHECK(r.open && r.contract->contract_id == 10);
	evaluate(1, NULL, "2026-03-01", &r);
	REQUIRE(!r.open && r.contract != NULL);
	CHECK_EQ_STR(r.reason, "RIGHTS_CLOSED");
	CHECK_EQ_I64(r.contract->contract_id, 10);
	REQUIRE(r.has_validity);
	date_format(r.valid_from, from);
	date_format(r.valid_to, to);
	CHECK_EQ_STR(from, "2025-01-01");
	CHECK_EQ_STR(to, "2025-12-31");

	/* The member's only contract, cancelled: closed before, on and after
	 * its start, suspended or not, and no validity. */
	reset();
	add_contract(12, "terminated", "2026-06-01", "2026-06-01");
	add_beneficiary(3, 12, 1, "1980-05-01", "2026-06-01");
	CHECK_EQ_STR(rights_until(1, "2026-03-01"), "closed: RIGHTS_CLOSED");
	CHECK_EQ_STR(rights_until(1, "2026-06-01"), "closed: RIGHTS_CLOSED");
	evaluate(1, NULL, "2026-07-01", &r);
	CHECK(!r.open && r.contract != NULL && !r.has_validity);
	contracts[0].status = "suspended";
	evaluate(1, NULL, "2026-07-01", &r);
	CHECK(!r.open && strcmp(r.reason, "RIGHTS_CLOSED") == 0 && !r.has_validity);

	/* A renewal suspended from a day before it began: suspended, and
	 * no period (it would end before it starts). */
	reset();
	add_contract(14, "suspended", "2026-06-01", NULL);
	add_beneficiary(5, 14, 1, "1980-05-01", "2026-06-01");
	contracts[0].has_suspended_from_day = 1;
	contracts[0].suspended_from_day = day("2026-03-01");
	evaluate(1, NULL, "2026-07-01", &r);
	CHECK(!r.open && strcmp(r.reason, "CONTRACT_SUSPENDED") == 0 && !r.has_validity);

	/* A beneficiary whose period ended before the contract began. */
	reset();
	add_contract(13, "active", "2026-01-01", NULL);
	add_beneficiary(4, 13, 1, "1980-05-01", "2025-01-01");
	bens[0].has_end_day = 1;
	bens[0].end_day = day("2025-06-01");
	evaluate(1, NULL, "2026-03-01", &r);
	CHECK(!r.open && strcmp(r.reason, "RIGHTS_CLOSED") == 0 && !r.has_validity);
}

static void test_unknown_member(void)
{
	struct tp_rights r;

	reset();
	evaluate(1, NULL, "2026-03-10", &r);
	CHECK(!r.open && r.contract == NULL && strcmp(r.reason, "UNKNOWN_BENEFICIARY") == 0);
}

/* A renewal renumbered the children: in 2025 Léo rank 2 and Jade rank 3;
 * in 2026 (Jade gone) Paul rank 2 and Léo rank 3. Persons as migration
 * 023 links them. */
static void renumbered_family(int with_persons)
{
	reset();
	add_contract(20, "terminated", "2025-01-01", "2026-01-01");
	add_contract(21, "active", "2026-01-01", NULL);
	add_beneficiary(11, 20, 1, "1980-05-01", "2025-01-01");
	person(11);
	add_beneficiary(12, 20, 2, "2015-03-03", "2025-01-01");
	person(12);
	add_beneficiary(13, 20, 3, "2012-09-09", "2025-01-01");
	person(13);
	add_beneficiary(21, 21, 1, "1980-05-01", "2026-01-01");
	person(11);
	add_beneficiary(22, 21, 2, "2018-01-01", "2026-01-01");
	person(22);
	add_beneficiary(23, 21, 3, "2015-03-03", "2026-01-01");
	person(12); /* Léo */
	if (!with_persons)
		for (size_t i = 0; i < snap.n_beneficiaries; i++)
			bens[i].has_person_id = 0;
}

static int64_t whose(uint32_t rank, const char *birth, const char *on, const char **reason)
{
	struct tp_rights r;

	evaluate(rank, birth, on, &r);
	*reason = r.open ? "open" : r.reason;
	return r.beneficiary != NULL ? r.beneficiary->beneficiary_id : 0;
}

static void test_ranks_renumbered_at_a_renewal(void)
{
	const char *why;

	renumbered_family(1);
	/* This year's card (rank 3) for care of last year: Léo, under his
	 * row of last year, never Jade, last year's rank 3. */
	CHECK_EQ_I64(whose(3, "2015-03-03", "2025-12-15", &why), 12);
	CHECK_EQ_STR(why, "open");
	/* Last year's card (rank 2) for care of this year: Léo too. */
	CHECK_EQ_I64(whose(2, "2015-03-03", "2026-03-10", &why), 23);
	CHECK_EQ_STR(why, "open");
	/* His birth date alone: one person with two ranks, not twins. */
	CHECK_EQ_I64(whose(0, "2015-03-03", "2026-03-10", &why), 23);
	CHECK_EQ_STR(why, "open");
	CHECK_EQ_I64(whose(0, "2015-03-03", "2025-12-15", &why), 12);
	/* Jade's rights ended with last year's contract. */
	CHECK_EQ_I64(whose(0, "2012-09-09", "2026-03-10", &why), 13);
	CHECK_EQ_STR(why, "RIGHTS_CLOSED");
	/* The rank alone is whoever holds it on the contract of the day. */
	CHECK_EQ_I64(whose(3, NULL, "2025-12-15", &why), 13);
	CHECK_EQ_I64(whose(3, NULL, "2026-03-10", &why), 23);
	/* Rank 3 was never Paul's. */
	CHECK_EQ_I64(whose(3, "2018-01-01", "2026-03-10", &why), 0);
	CHECK_EQ_STR(why, "BENEFICIARY_MISMATCH");

	/* Twins are two persons: still ambiguous by birth date alone. */
	family("active", NULL);
	for (size_t i = 0; i < snap.n_beneficiaries; i++) {
		bens[i].has_person_id = 1;
		bens[i].person_id = bens[i].beneficiary_id;
	}
	CHECK_EQ_I64(whose(0, "2015-02-03", "2026-03-10", &why), 0);
	CHECK_EQ_STR(why, "AMBIGUOUS_BENEFICIARY");
	CHECK_EQ_I64(whose(4, "2015-02-03", "2026-03-10", &why), 4);

	/* Renumbered twins: in 2025 Jade 3, Paul 4, Lou 5; in 2026 Paul 3,
	 * Lou 4. Lou's 2026 card (rank 4) names Lou in 2026; for 2025 care,
	 * the card of that day's rank 4, Paul (the same rank and birth date:
	 * nothing else tells them apart). */
	reset();
	add_contract(30, "terminated", "2025-01-01", "2026-01-01");
	add_contract(31, "active", "2026-01-01", NULL);
	add_beneficiary(41, 30, 3, "2012-09-09", "2025-01-01");
	person(41);
	add_beneficiary(42, 30, 4, "2018-01-01", "2025-01-01");
	person(42);
	add_beneficiary(43, 30, 5, "2018-01-01", "2025-01-01");
	person(43);
	add_beneficiary(52, 31, 3, "2018-01-01", "2026-01-01");
	person(42);
	add_beneficiary(53, 31, 4, "2018-01-01", "2026-01-01");
	person(43);
	CHECK_EQ_I64(whose(4, "2018-01-01", "2026-03-10", &why), 53);
	CHECK_EQ_STR(why, "open");
	CHECK_EQ_I64(whose(3, "2018-01-01", "2026-03-10", &why), 52);
	CHECK_EQ_I64(whose(5, "2018-01-01", "2026-03-10", &why), 53); /* last year's card */
	CHECK_EQ_I64(whose(4, "2018-01-01", "2025-12-15", &why), 42);
	CHECK_EQ_I64(whose(0, "2018-01-01", "2026-03-10", &why), 0);
	CHECK_EQ_STR(why, "AMBIGUOUS_BENEFICIARY");

	/* Rows without persons (each a person of its own): the rows that
	 * named the person (rank and birth date), never another's of the
	 * same rank. The front door reads such a snapshot again. */
	renumbered_family(0);
	CHECK_EQ_I64(whose(3, "2015-03-03", "2025-12-15", &why), 23);
	CHECK_EQ_STR(why, "NOT_YET_COVERED");
}

int main(void)
{
	RUN(test_suspension_from_a_day);
	RUN(test_subscriber_by_default);
	RUN(test_by_birth_date_and_rank);
	RUN(test_periods);
	RUN(test_several_contracts);
	RUN(test_cancelled_contract);
	RUN(test_unknown_member);
	RUN(test_ranks_renumbered_at_a_renewal);
	return test_report();
}
