-- 024_contract_cancellation.sql - a contract may end on its start date:
-- cancelled before it began, it covers no day.
--
-- Why: a contract recorded in advance (a renewal from 1 January, a
-- change of formula next month) could not be undone once the member
-- left before it began. `claimctl contract terminate` with an end date
-- on or before its start broke the CHECK (end_date > start_date) of
-- 001, so the contract stayed active and went on covering care from its
-- start: intake accepted that care and the workers paid it. The command
-- now ends such a contract on its start date. The end date being
-- exclusive, [start, start) is an empty period: intake, the workers,
-- `claimctl claim redecide` and the front door judge coverage as
-- start <= day < end, so the contract covers no day (the front door
-- answers RIGHTS_CLOSED, with no validity).
--
-- The CHECK of 001 was written without a name, and PostgreSQL chose one
-- when it made the table (contracts_check on the databases made by 001
-- as it stands). It is found by the columns it reads, exactly
-- start_date and end_date (the other CHECKs of contracts read status
-- or suspended_from), rather than by that name, and replaced by a
-- named one. Adding it reads the contracts once under the table's lock,
-- which the daemons wait for: a contracts table is small next to the
-- claims (one row per member and year of membership).

SET LOCAL lock_timeout = '10s';

DO $$
DECLARE
    check_name name;
BEGIN
    FOR check_name IN
        SELECT con.conname
          FROM pg_constraint con
         WHERE con.conrelid = 'contracts'::regclass
           AND con.contype = 'c'
           AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text)
                  FROM pg_attribute a
                 WHERE a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey))
               = ARRAY['end_date', 'start_date']
    LOOP
        EXECUTE format('ALTER TABLE contracts DROP CONSTRAINT %I', check_name);
    END LOOP;
END
$$;

ALTER TABLE contracts ADD CONSTRAINT contracts_end_not_before_start
    CHECK (end_date IS NULL OR end_date >= start_date);
