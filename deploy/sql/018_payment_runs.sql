-- 018_payment_runs.sql - payments handed to the bank in named runs.
--
-- Why: the treasury listed what was owed and sent it to the bank; two
-- operators, or one trying again after a timeout, could send the same
-- payments twice, and nothing recorded that a payment had gone out.
-- `claimctl payments export --run RUN` now records the run (what it was
-- asked for) and takes the pending payments into it in one transaction
-- (status 'sent', the run's id, when): a payment is in one run at most,
-- and exporting a run again gives the same payments, never new ones; a
-- run asked again with other options is refused.
--
-- The check on payments holds for rows written from now on (NOT VALID):
-- no release before this one set 'sent', and validating would scan the
-- table under the ALTER's lock.

SET LOCAL lock_timeout = '10s';

CREATE TABLE payment_runs (
    run_id        text PRIMARY KEY CHECK (run_id ~ '^[[:graph:]]{1,35}$'),
    payee         text CHECK (payee IN ('member', 'professional')),  -- NULL: both
    max_payments  bigint NOT NULL CHECK (max_payments >= 0),
    payments      integer NOT NULL,       -- how many it took
    amount_cents  bigint NOT NULL,        -- their sum
    made_at       timestamptz NOT NULL DEFAULT now(),
    made_by       text NOT NULL DEFAULT current_user
);

ALTER TABLE payments ADD COLUMN run_id text REFERENCES payment_runs,
                     ADD COLUMN sent_at timestamptz;
ALTER TABLE payments ADD CONSTRAINT payments_sent_in_a_run
    CHECK (status <> 'sent' OR (run_id IS NOT NULL AND sent_at IS NOT NULL)) NOT VALID;
-- No index on payments.run_id: a run is exported once and read again only
-- when a transfer file is lost (see 006 on the treasury's reads).
