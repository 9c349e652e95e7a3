-- 027_payments_bank_reference_index.sql - payments found by their bank
-- reference.
--
-- Why: `claimctl payments settle` asks, for each transfer of a
-- statement, whether its reference already settles a payment to another
-- payee (a line copied with the wrong claim id). Without an index on
-- bank_reference each line read the whole table: a statement of 20,000
-- transfers against 1.3 million payments ran for more than ten minutes,
-- holding its rows locked. Only paid payments have a reference, hence a
-- partial index: small, and nothing to write for the workers' new
-- payments, which have none.
--
-- On a large table, build it beforehand without blocking writers, and
-- this migration finds it made:
--   CREATE INDEX CONCURRENTLY payments_bank_reference
--       ON payments (bank_reference) WHERE bank_reference IS NOT NULL;

SET LOCAL lock_timeout = '10s';

CREATE INDEX IF NOT EXISTS payments_bank_reference
    ON payments (bank_reference) WHERE bank_reference IS NOT NULL;
