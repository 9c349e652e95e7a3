-- 018_payment_runs.sql - payments handed to the bank in named runs.
--
-- Why: the treasury listed what was owed and sent it to the bank; two
-- operators, or one trying again after a timeout, could send the same
-- payments twice, and nothing recorded that a payment had gone out.
-- `claimctl payments export --run RUN` now takes the pending payments
-- into a run in one statement (status 'sent', the run's id, when): a
-- payment is in one run at most, and exporting a run again gives the
-- same payments, never new ones.
--
-- The check holds for rows written from now on (NOT VALID): no release
-- before this one set 'sent', and validating would scan the table under
-- the ALTER's lock.

SET LOCAL lock_timeout = '10s';

ALTER TABLE payments ADD COLUMN run_id text,
                     ADD COLUMN sent_at timestamptz;
ALTER TABLE payments ADD CONSTRAINT payments_sent_in_a_run
    CHECK (status <> 'sent' OR (run_id IS NOT NULL AND sent_at IS NOT NULL)) NOT VALID;
-- No index on run_id: a run is exported once and read again only when a
-- transfer file is lost (see 006 on the treasury's reads).
