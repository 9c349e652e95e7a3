-- 014_claim_complements.sql - a claim in 'partial' is completed by a
-- second claim holding its undecided lines (a complementary settlement).
--
-- Why: a claim whose lines were decided in part (typically: no formula
-- version in force at some care dates) keeps its decided lines, which
-- were paid and counted; deciding the claim again would pay and count
-- them twice. Once the missing version is published, `claimctl claim
-- redecide` creates the complement: a new claim, same beneficiary and
-- payee, with the lines that have no decision, under the source
-- "complement" (reserved: intake refuses it from senders) with the first
-- claim's id as its external id. It goes through
-- the reimbursement workers like any claim: its own decisions, counters,
-- payment and reimbursements.computed event.
--
-- The link lives in its own table, not in a column of `claims`: a
-- nullable foreign key there would cost every claim written by intake a
-- check, for the few that are ever completed. The primary key allows
-- one complement per claim (a complement in 'partial' has its own).

SET LOCAL lock_timeout = '10s';

CREATE TABLE claim_complements (
    claim_id      uuid PRIMARY KEY REFERENCES claims,
    complement_id uuid NOT NULL UNIQUE REFERENCES claims,
    created_at    timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    CHECK (claim_id <> complement_id)
);
