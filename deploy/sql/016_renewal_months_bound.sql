-- 016_renewal_months_bound.sql - a guarantee's renewal period is 1 to
-- 60 months.
--
-- Why: the reimbursement workers read the equipments of the last five
-- years of a beneficiary (glasses, hearing aids) to judge a renewal; a
-- longer period would miss the one bought before them and pay again.
-- The engine refuses longer periods (RULES_MAX_RENEWAL_MONTHS) since this
-- release, and a worker refuses to start on formulas it cannot load: a
-- database holding one stops the upgrade here, with the formulas named,
-- rather than at the workers' start.

SET LOCAL lock_timeout = '10s';

DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('%s v%s %s: %s', formula_code, version, category,
                             spec->'renewal_months'), ', ')
      INTO bad
      FROM guarantees
     WHERE CASE WHEN jsonb_typeof(spec->'renewal_months') = 'number'
                THEN (spec->>'renewal_months')::numeric NOT BETWEEN 1 AND 60
                ELSE false END;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'renewal periods outside 1 to 60 months: %', bad
            USING HINT = 'publish versions of these formulas within 60 months, then migrate';
    END IF;
END
$$;

-- (The engine refuses a renewal_months that is not a number too; the
-- workers would say so with the formula named.)
ALTER TABLE guarantees ADD CONSTRAINT guarantees_renewal_months_bound
    CHECK (CASE WHEN jsonb_typeof(spec->'renewal_months') = 'number'
                THEN (spec->>'renewal_months')::numeric BETWEEN 1 AND 60
                ELSE true END);
