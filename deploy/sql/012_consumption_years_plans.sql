-- 012_consumption_years_plans.sql - the triggers that keep the yearly
-- consumption in step with the daily counters (009) do the same sums
-- with plans that PostgreSQL keeps, instead of planning them anew at
-- every statement.
--
-- Why: 009's triggers handed the changed rows, as arrays, to a SQL
-- function. PostgreSQL (before 18) plans the body of such a function at
-- every call, and the arrays were built and unnested each time, for
-- every write statement of the reimbursement workers whatever its size.
-- PL/pgSQL keeps the plan of each of its statements for the session,
-- and the statements below read the transition tables directly. At
-- 1,000 claims/s (pg_stat_statements, top-level statements, two runs
-- each) the workers' write statement took 380 and 447 µs per claim
-- before, 288 and 300 after.
--
-- The sums are those of 009: for each (beneficiary, year, category), the
-- rows inserted add, the rows deleted subtract, an update does both.
-- The upsert is written out once per operation: a trigger sees only its
-- own transition tables, and handing them to a shared function would
-- take the arrays back.
-- Replacing a function takes no lock on the tables: workers running
-- during the upgrade use the new body from their next statement.

CREATE OR REPLACE FUNCTION consumption_years_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO consumption_years AS y (beneficiary_id, year, category, pf_cents,
        franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
    SELECT n.beneficiary_id, date_part('year', n.care_date)::integer, n.category,
        sum(n.pf_cents), sum(n.franchise_cents), sum(n.amc_cents), sum(n.forfait_cents),
        sum(n.forfait_units), sum(n.lines)
    FROM new_rows n
    GROUP BY 1, 2, 3
    ON CONFLICT (beneficiary_id, year, category) DO UPDATE SET
        pf_cents = y.pf_cents + excluded.pf_cents,
        franchise_cents = y.franchise_cents + excluded.franchise_cents,
        amc_cents = y.amc_cents + excluded.amc_cents,
        forfait_cents = y.forfait_cents + excluded.forfait_cents,
        forfait_units = y.forfait_units + excluded.forfait_units,
        lines = y.lines + excluded.lines;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION consumption_years_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO consumption_years AS y (beneficiary_id, year, category, pf_cents,
        franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
    SELECT d.beneficiary_id, date_part('year', d.care_date)::integer, d.category,
        sum(d.pf_cents), sum(d.franchise_cents), sum(d.amc_cents), sum(d.forfait_cents),
        sum(d.forfait_units), sum(d.lines)
    FROM (SELECT n.beneficiary_id, n.care_date, n.category, n.pf_cents, n.franchise_cents,
                 n.amc_cents, n.forfait_cents, n.forfait_units, n.lines
          FROM new_rows n
          UNION ALL
          SELECT o.beneficiary_id, o.care_date, o.category, -o.pf_cents, -o.franchise_cents,
                 -o.amc_cents, -o.forfait_cents, -o.forfait_units, -o.lines
          FROM old_rows o) d
    GROUP BY 1, 2, 3
    ON CONFLICT (beneficiary_id, year, category) DO UPDATE SET
        pf_cents = y.pf_cents + excluded.pf_cents,
        franchise_cents = y.franchise_cents + excluded.franchise_cents,
        amc_cents = y.amc_cents + excluded.amc_cents,
        forfait_cents = y.forfait_cents + excluded.forfait_cents,
        forfait_units = y.forfait_units + excluded.forfait_units,
        lines = y.lines + excluded.lines;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION consumption_years_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO consumption_years AS y (beneficiary_id, year, category, pf_cents,
        franchise_cents, amc_cents, forfait_cents, forfait_units, lines)
    SELECT o.beneficiary_id, date_part('year', o.care_date)::integer, o.category,
        -sum(o.pf_cents), -sum(o.franchise_cents), -sum(o.amc_cents), -sum(o.forfait_cents),
        -sum(o.forfait_units), -sum(o.lines)
    FROM old_rows o
    GROUP BY 1, 2, 3
    ON CONFLICT (beneficiary_id, year, category) DO UPDATE SET
        pf_cents = y.pf_cents + excluded.pf_cents,
        franchise_cents = y.franchise_cents + excluded.franchise_cents,
        amc_cents = y.amc_cents + excluded.amc_cents,
        forfait_cents = y.forfait_cents + excluded.forfait_cents,
        forfait_units = y.forfait_units + excluded.forfait_units,
        lines = y.lines + excluded.lines;
    RETURN NULL;
END
$$;

-- 009's helper, called by its triggers only.
DROP FUNCTION IF EXISTS consumption_years_add(consumption_counters[], consumption_counters[]);
