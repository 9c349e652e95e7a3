-- 002_claims.sql - claims, their lines, rejections, decisions, consumption
-- counters and payments.
--
-- Idempotency lives in the keys: one claim per (source, external_id), one
-- decision per claim line. A redelivered message meets a unique key and
-- changes nothing.

CREATE TABLE claims (
    claim_id        uuid PRIMARY KEY,
    source          text NOT NULL,
    source_kind     text NOT NULL,
    external_id     text NOT NULL,
    contract_id     bigint NOT NULL REFERENCES contracts,
    beneficiary_id  bigint NOT NULL REFERENCES beneficiaries,
    professional_id bigint REFERENCES professionals,
    payee           text NOT NULL CHECK (payee IN ('member', 'professional')),
    status          text NOT NULL CHECK (status IN ('queued', 'complete', 'partial', 'error')),
    outcome_reason  text,
    trace_id        text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    UNIQUE (source, external_id)
);
CREATE INDEX claims_beneficiary ON claims (beneficiary_id);
CREATE INDEX claims_contract ON claims (contract_id);

CREATE TABLE claim_lines (
    claim_id            uuid NOT NULL REFERENCES claims,
    line_no             integer NOT NULL CHECK (line_no > 0),
    line_ref            text,
    act_code            text,
    category            text NOT NULL,
    care_date           date NOT NULL,
    quantity            integer NOT NULL CHECK (quantity > 0),
    charged_cents       bigint NOT NULL CHECK (charged_cents >= 0),
    brss_cents          bigint NOT NULL CHECK (brss_cents >= 0),
    amo_rate            integer NOT NULL CHECK (amo_rate BETWEEN 0 AND 100),
    amo_paid_cents      bigint CHECK (amo_paid_cents >= 0),
    optam               boolean NOT NULL DEFAULT true,
    parcours            boolean NOT NULL DEFAULT true,
    basket              text,
    price_limit_cents   bigint,
    lenses              text[],
    frame_charged_cents bigint,
    PRIMARY KEY (claim_id, line_no)
);

-- Submissions refused at intake; nothing else is written for them.
CREATE TABLE claim_rejections (
    rejection_id    uuid PRIMARY KEY,
    source          text,
    external_id     text,
    reason_code     text NOT NULL,
    field           text,
    message         text,
    received_at     timestamptz NOT NULL DEFAULT now()
);
-- A repeated rejected submission returns the first answer too.
CREATE UNIQUE INDEX claim_rejections_key ON claim_rejections (source, external_id)
    WHERE source IS NOT NULL AND external_id IS NOT NULL;

CREATE TABLE decisions (
    claim_id          uuid NOT NULL,
    line_no           integer NOT NULL,
    charged_cents     bigint NOT NULL,
    amo_gross_cents   bigint NOT NULL CHECK (amo_gross_cents >= 0),
    pf_cents          bigint NOT NULL CHECK (pf_cents >= 0),
    franchise_cents   bigint NOT NULL CHECK (franchise_cents >= 0),
    amo_paid_cents    bigint NOT NULL CHECK (amo_paid_cents >= 0),
    amc_cents         bigint NOT NULL CHECK (amc_cents >= 0),
    forfait_cents     bigint NOT NULL CHECK (forfait_cents >= 0),
    rac_cents         bigint NOT NULL CHECK (rac_cents >= 0),
    rules             text[] NOT NULL,
    formula_code      text NOT NULL,
    formula_version   integer NOT NULL,
    decided_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (claim_id, line_no),
    FOREIGN KEY (claim_id, line_no) REFERENCES claim_lines,
    CHECK (charged_cents = amo_paid_cents + amc_cents + rac_cents)
);

-- What a beneficiary consumed, per category and day of care: the engine's
-- history (annual caps, daily PF and franchise caps, renewal periods) is
-- read from here rather than rebuilt from every decision.
CREATE TABLE consumption_counters (
    beneficiary_id    bigint NOT NULL REFERENCES beneficiaries,
    category          text NOT NULL,
    care_date         date NOT NULL,
    pf_cents          bigint NOT NULL DEFAULT 0,
    franchise_cents   bigint NOT NULL DEFAULT 0,
    amc_cents         bigint NOT NULL DEFAULT 0,
    forfait_cents     bigint NOT NULL DEFAULT 0,
    forfait_units     integer NOT NULL DEFAULT 0,
    equipments        integer NOT NULL DEFAULT 0,
    lines             integer NOT NULL DEFAULT 0,
    PRIMARY KEY (beneficiary_id, category, care_date)
);

CREATE TABLE payments (
    payment_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    claim_id        uuid NOT NULL UNIQUE REFERENCES claims,   -- one payment per claim
    payee           text NOT NULL CHECK (payee IN ('member', 'professional')),
    payee_ref       text NOT NULL,          -- membership number or professional id
    amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'paid')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
