-- 020_contract_suspension_date.sql - a suspension has a first day.
--
-- Why: a contract suspended for unpaid dues refused all care, that
-- before the suspension too. A pharmacy's statement for October, read
-- after a November suspension, was refused for good (a rejection is
-- its key's first answer), though the member was covered that day;
-- tiers-payant ELIGIBILITY said CONTRACT_SUSPENDED for a past day of
-- full rights. `claimctl contract suspend --from DAY` (today by
-- default) now records the first day not covered; care before it is
-- covered as if the contract were active, care on or after it is not.
--
-- A date is held only by a suspended contract (lifting a suspension
-- clears it). A suspended contract without one (suspended before this
-- release, or by hand) refuses every day of its period, as before:
-- nobody knows when its suspension began.

SET LOCAL lock_timeout = '10s';

ALTER TABLE contracts ADD COLUMN suspended_from date;
ALTER TABLE contracts ADD CONSTRAINT contracts_suspension_date_when_suspended
    CHECK (suspended_from IS NULL OR status = 'suspended');
