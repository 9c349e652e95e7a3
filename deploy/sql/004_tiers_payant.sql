-- 004_tiers_payant.sql - quotes given to health professionals, and the
-- link from an invoice (a claim) to the quote it follows.
--
-- A quote is the engine's answer for care not yet performed (ROC SIM/CLC,
-- optics and dental prise en charge): it consumes no counters and is kept
-- with its validity so that the invoice can cite it. The front door writes
-- quotes with synchronous_commit off: a quote lost in a database crash is
-- asked again, no money depends on it (the invoice is computed anew).

CREATE TABLE quotes (
    quote_id         uuid PRIMARY KEY,
    professional_id  bigint NOT NULL REFERENCES professionals,
    beneficiary_id   bigint NOT NULL REFERENCES beneficiaries,
    contract_id      bigint NOT NULL REFERENCES contracts,
    request          bytea NOT NULL,        -- the QuoteCompute envelope
    result           bytea NOT NULL,        -- the ReimbursementComputed envelope
    total_charged_cents bigint NOT NULL,
    total_amc_cents  bigint NOT NULL CHECK (total_amc_cents >= 0),
    total_rac_cents  bigint NOT NULL CHECK (total_rac_cents >= 0),
    valid_until      date NOT NULL,         -- inclusive
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quotes_beneficiary ON quotes (beneficiary_id);

-- Not a foreign key: intake checks the cited quote (known, same
-- professional and beneficiary, still valid) and rejects otherwise.
ALTER TABLE claims ADD COLUMN quote_id uuid;
