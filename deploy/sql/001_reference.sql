-- 001_reference.sql - members, contracts, beneficiaries, formulas and
-- guarantees, professionals: the reference data claims are checked against.
--
-- Formulas are versioned: a guarantee change by decree or at renewal is a
-- new formula_version with its effective dates, never an update in place,
-- so a claim is always computed with the guarantees valid at the care date.

CREATE TABLE formulas (
    formula_code   text PRIMARY KEY,
    label          text NOT NULL,
    responsible    boolean NOT NULL,          -- contrat responsable (CSS L871-1)
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE formula_versions (
    formula_code   text NOT NULL REFERENCES formulas,
    version        integer NOT NULL CHECK (version > 0),
    effective_from date NOT NULL,
    effective_to   date,                      -- exclusive; NULL: still in force
    PRIMARY KEY (formula_code, version),
    CHECK (effective_to IS NULL OR effective_to > effective_from)
);

-- One row per care category of a formula version; `spec` is the guarantee
-- in the rules engine's format (docs/rules.md), e.g. {"pct_brss": 200}.
CREATE TABLE guarantees (
    formula_code   text NOT NULL,
    version        integer NOT NULL,
    category       text NOT NULL,
    spec           jsonb NOT NULL,
    PRIMARY KEY (formula_code, version, category),
    FOREIGN KEY (formula_code, version) REFERENCES formula_versions
);

CREATE TABLE members (
    member_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    membership_number  text NOT NULL UNIQUE,  -- numéro d'adhérent
    nir                text,                  -- n° de sécurité sociale (13 + key)
    last_name          text NOT NULL,
    first_name         text NOT NULL,
    birth_date         date NOT NULL,
    email              text,
    phone              text,
    postal_address     text,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE contracts (
    contract_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id          bigint NOT NULL REFERENCES members,
    formula_code       text NOT NULL REFERENCES formulas,
    amc_number         text NOT NULL,         -- numéro AMC on the tiers-payant card
    status             text NOT NULL CHECK (status IN ('active', 'suspended', 'terminated')),
    start_date         date NOT NULL,
    end_date           date,                  -- exclusive; résiliation or expiry
    termination_reason text,
    terminated_at      timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date > start_date),
    CHECK (status <> 'terminated' OR end_date IS NOT NULL)
);
CREATE INDEX contracts_member ON contracts (member_id);

CREATE TABLE beneficiaries (
    beneficiary_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    contract_id        bigint NOT NULL REFERENCES contracts,
    member_id          bigint REFERENCES members,      -- set for the subscriber
    rank               smallint NOT NULL CHECK (rank > 0),
    relationship       text NOT NULL CHECK (relationship IN ('subscriber', 'spouse', 'child')),
    nir                text,
    last_name          text NOT NULL,
    first_name         text NOT NULL,
    birth_date         date NOT NULL,
    exemptions         text[] NOT NULL DEFAULT '{}',   -- 'C2S', 'MATERNITY'
    start_date         date NOT NULL,
    end_date           date,
    UNIQUE (contract_id, rank)
);

CREATE TABLE professionals (
    professional_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id_kind            text NOT NULL CHECK (id_kind IN ('RPPS', 'ADELI', 'FINESS')),
    id_value           text NOT NULL,
    name               text NOT NULL,
    profession         text NOT NULL,         -- 'generaliste', 'pharmacie', 'opticien', ...
    tp_agreement       boolean NOT NULL DEFAULT false,  -- convention de tiers payant
    curve_public_key   text,                  -- Z85, 40 characters
    key_status         text NOT NULL DEFAULT 'active' CHECK (key_status IN ('active', 'revoked')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id_kind, id_value)
);
CREATE UNIQUE INDEX professionals_key ON professionals (curve_public_key)
    WHERE curve_public_key IS NOT NULL;
