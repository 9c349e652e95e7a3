-- 009_consumption_years.sql - a beneficiary's consumption summed per
-- calendar year and category, kept by the reimbursement workers in the
-- same statement as the daily counters.
--
-- Why: the engine needs, from the history, the sums of the years of the
-- care (annual caps, envelopes, PF and franchise ceilings), the rows of
-- the days of the care (daily ceilings) and the equipments of the last
-- five years (renewals). Read from the daily rows, a quote or a decision
-- cost one heap page per day of care of the year; a heavy consumer has
-- hundreds. From here: a handful of yearly rows, the rows of the care's
-- days (by the primary key, now day first), and the equipments through
-- a partial index.
--
-- forfait_units counts the units of lines paid by a per-act forfait, as
-- the daily rows do; the engine counts them only where forfait_cents > 0,
-- which the yearly sum keeps (a line without forfait adds no unit).
CREATE TABLE consumption_years (
    beneficiary_id    bigint NOT NULL REFERENCES beneficiaries,
    year              integer NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    category          text NOT NULL,
    pf_cents          bigint NOT NULL DEFAULT 0,
    franchise_cents   bigint NOT NULL DEFAULT 0,
    amc_cents         bigint NOT NULL DEFAULT 0,
    forfait_cents     bigint NOT NULL DEFAULT 0,
    forfait_units     integer NOT NULL DEFAULT 0,
    lines             integer NOT NULL DEFAULT 0,
    PRIMARY KEY (beneficiary_id, year, category)
);

INSERT INTO consumption_years (beneficiary_id, year, category, pf_cents, franchise_cents,
    amc_cents, forfait_cents, forfait_units, lines)
SELECT beneficiary_id, extract(year FROM care_date)::integer, category, sum(pf_cents),
    sum(franchise_cents), sum(amc_cents), sum(forfait_cents), sum(forfait_units), sum(lines)
FROM consumption_counters
GROUP BY 1, 2, 3;

-- The rows of a given day, whatever their category, straight from the
-- primary key: the day before the category. (On a large table, build
-- the unique index CONCURRENTLY beforehand and add the key USING INDEX.)
ALTER TABLE consumption_counters DROP CONSTRAINT consumption_counters_pkey;
ALTER TABLE consumption_counters ADD PRIMARY KEY (beneficiary_id, care_date, category);
-- Equipments (glasses, hearing aids) for the renewal periods.
CREATE INDEX consumption_counters_equipments ON consumption_counters (beneficiary_id, care_date)
    WHERE equipments > 0;
