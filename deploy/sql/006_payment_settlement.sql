-- 006_payment_settlement.sql - a payment becomes 'paid' when the bank
-- has made the transfer (claimctl payments settle, from the bank's
-- statement): when, and under which reference, so that a statement read
-- twice changes nothing and a member or a professional asking "was I
-- paid?" gets the transfer's reference.
ALTER TABLE payments ADD COLUMN paid_at timestamptz;
ALTER TABLE payments ADD COLUMN bank_reference text;
ALTER TABLE payments ADD CONSTRAINT payments_paid_when
    CHECK ((status = 'paid') = (paid_at IS NOT NULL AND bank_reference IS NOT NULL));
-- No index for the treasury's list of what is owed: it is read a few
-- times a day, while every decided claim would pay for the index.
