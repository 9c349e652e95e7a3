-- 026_payment_holds.sql - payments the bank gave back, or the treasury stops.
--
-- Why: a transfer the bank rejects or returns (an account closed, a name
-- that does not match: ISO 20022 reason codes such as AC04, MD07) left
-- its payment 'sent', or 'paid' when the statement had shown it made,
-- and only a hand-written UPDATE brought it back; a payment the
-- treasury wanted kept from the next run (a claim decided before a
-- termination recorded late) could not be. Such a payment is now
-- 'held', with when and why: owed still (listed, checked), never taken
-- by an export, until `claimctl payments release` makes it 'pending'
-- again for a new run. `claimctl payments return FILE` records the
-- bank's returns, `claimctl payments hold` the treasury's stops; each
-- change writes an audit_log row, which keeps the history a release
-- clears from the row.
--
-- The checks hold for rows written from now on (NOT VALID): every
-- existing row meets them (none is 'held'), and validating would scan
-- the table under the ALTER's lock.

SET LOCAL lock_timeout = '10s';

ALTER TABLE payments ADD COLUMN held_at timestamptz,
                     ADD COLUMN hold_reason text;
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'sent', 'paid', 'held')) NOT VALID;
ALTER TABLE payments ADD CONSTRAINT payments_held_when
    CHECK ((status = 'held') = (held_at IS NOT NULL AND hold_reason IS NOT NULL)) NOT VALID;
