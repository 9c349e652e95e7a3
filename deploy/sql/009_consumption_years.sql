-- 009_consumption_years.sql - a beneficiary's consumption summed per
-- calendar year and category, kept in step with the daily counters by
-- triggers.
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
-- Why triggers rather than the workers: every change of a daily counter,
-- whoever makes it, moves its year in the same transaction. Workers of
-- the previous release, still deciding claims while this one rolls out,
-- write daily counters only; their years stay right all the same.
--
-- On a large table, build the new key's index beforehand without
-- blocking writers, and this migration uses it:
--   CREATE UNIQUE INDEX CONCURRENTLY consumption_counters_day_first
--       ON consumption_counters (beneficiary_id, care_date, category);
--   CREATE INDEX CONCURRENTLY consumption_counters_equipments
--       ON consumption_counters (beneficiary_id, care_date) WHERE equipments > 0;

-- No counter may change between the copy below and the triggers.
LOCK TABLE consumption_counters IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE consumption_years (
    beneficiary_id    bigint NOT NULL REFERENCES beneficiaries,
    year              integer NOT NULL CHECK (year BETWEEN 1900 AND 9999),
    category          text NOT NULL,
    pf_cents          bigint NOT NULL DEFAULT 0,
    franchise_cents   bigint NOT NULL DEFAULT 0,
    amc_cents         bigint NOT NULL DEFAULT 0,
    forfait_cents     bigint NOT NULL DEFAULT 0,
    -- units of lines paid by a per-act forfait, as in the daily rows (a
    -- line without forfait adds none, so the engine's rule "units count
    -- where forfait_cents > 0" holds for the sum)
    forfait_units     integer NOT NULL DEFAULT 0,
    lines             integer NOT NULL DEFAULT 0,
    PRIMARY KEY (beneficiary_id, year, category)
);

INSERT INTO consumption_years (beneficiary_id, year, category, pf_cents, franchise_cents,
    amc_cents, forfait_cents, forfait_units, lines)
SELECT beneficiary_id, date_part('year', care_date)::integer, category, sum(pf_cents),
    sum(franchise_cents), sum(amc_cents), sum(forfait_cents), sum(forfait_units), sum(lines)
FROM consumption_counters
GROUP BY 1, 2, 3;

-- Adds to the years the amounts of the days added, less those of the
-- days removed (for an update, the rows before and after).
CREATE FUNCTION consumption_years_add(added consumption_counters[],
                                      removed consumption_counters[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO consumption_years AS y (beneficiary_id, year, category, pf_cents,
        franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
    SELECT d.beneficiary_id, date_part('year', d.care_date)::integer, d.category,
        sum(d.sign * d.pf_cents), sum(d.sign * d.franchise_cents),
        sum(d.sign * d.amc_cents), sum(d.sign * d.forfait_cents),
        sum(d.sign * d.forfait_units), sum(d.sign * d.lines)
    FROM (SELECT a.*, 1 AS sign FROM unnest(added) a
          UNION ALL
          SELECT r.*, -1 FROM unnest(removed) r) d
    GROUP BY 1, 2, 3
    ON CONFLICT (beneficiary_id, year, category) DO UPDATE SET
        pf_cents = y.pf_cents + excluded.pf_cents,
        franchise_cents = y.franchise_cents + excluded.franchise_cents,
        amc_cents = y.amc_cents + excluded.amc_cents,
        forfait_cents = y.forfait_cents + excluded.forfait_cents,
        forfait_units = y.forfait_units + excluded.forfait_units,
        lines = y.lines + excluded.lines
$$;

-- Once per statement, with the rows it changed (transition tables).
CREATE FUNCTION consumption_years_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM consumption_years_add(
        (SELECT array_agg(n::consumption_counters) FROM new_rows n), NULL);
    RETURN NULL;
END
$$;

CREATE FUNCTION consumption_years_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM consumption_years_add(
        (SELECT array_agg(n::consumption_counters) FROM new_rows n),
        (SELECT array_agg(o::consumption_counters) FROM old_rows o));
    RETURN NULL;
END
$$;

CREATE FUNCTION consumption_years_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM consumption_years_add(
        NULL, (SELECT array_agg(o::consumption_counters) FROM old_rows o));
    RETURN NULL;
END
$$;

CREATE TRIGGER consumption_years_insert AFTER INSERT ON consumption_counters
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION consumption_years_on_insert();
CREATE TRIGGER consumption_years_update AFTER UPDATE ON consumption_counters
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION consumption_years_on_update();
CREATE TRIGGER consumption_years_delete AFTER DELETE ON consumption_counters
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION consumption_years_on_delete();

-- The rows of a given day, whatever their category, straight from the
-- primary key: the day before the category.
CREATE UNIQUE INDEX IF NOT EXISTS consumption_counters_day_first
    ON consumption_counters (beneficiary_id, care_date, category);
ALTER TABLE consumption_counters DROP CONSTRAINT consumption_counters_pkey;
ALTER TABLE consumption_counters ADD CONSTRAINT consumption_counters_pkey
    PRIMARY KEY USING INDEX consumption_counters_day_first;
-- Equipments (glasses, hearing aids) for the renewal periods.
CREATE INDEX IF NOT EXISTS consumption_counters_equipments
    ON consumption_counters (beneficiary_id, care_date) WHERE equipments > 0;
