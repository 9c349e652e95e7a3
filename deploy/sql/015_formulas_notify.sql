-- 015_formulas_notify.sql - a change of formulas, their versions or
-- their guarantees is announced (NOTIFY formulas_changed) when it commits.
--
-- Why: the reimbursement workers keep the formula versions in memory and
-- read them again every CLAIMS_FORMULA_RELOAD seconds, or before a batch
-- naming a version they do not know. A version published with an
-- effective date in the past, closing one they hold, named nothing
-- unknown: until the next periodic reload (a minute by default) its
-- claims were decided with the old one. Each worker LISTENs and reads
-- the versions again before its next batch. The triggers catch every
-- writer: claimctl, a migration, or SQL by hand.
--
-- Statement-level: one notice per statement, and PostgreSQL folds the
-- notices of one transaction into one.

SET LOCAL lock_timeout = '10s';

CREATE FUNCTION formulas_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('formulas_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER formulas_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON formulas
    FOR EACH STATEMENT EXECUTE FUNCTION formulas_notify();
CREATE TRIGGER formula_versions_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON formula_versions FOR EACH STATEMENT EXECUTE FUNCTION formulas_notify();
CREATE TRIGGER guarantees_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON guarantees
    FOR EACH STATEMENT EXECUTE FUNCTION formulas_notify();
