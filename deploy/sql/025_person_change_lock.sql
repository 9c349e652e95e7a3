-- 025_person_change_lock.sql - a beneficiary row joins or leaves a person
-- only while no claim of either person is being decided.
--
-- Why: the reimbursement workers lock a person (advisory lock 7415003 on
-- person_id & 2147483647, services/reimburse/reimburse.h) before reading
-- the person's history, so that two replicas deciding claims of one
-- person take turns and each sees what the other paid. An operator's
-- UPDATE of person_id (joining two rows the rule of 023 kept apart, or
-- parting them) took no such lock: committed while one replica was
-- deciding a claim of the old person and another one of the new, each
-- read a history without the other's lines, and the year's caps, the
-- envelopes and a renewal period could be consumed twice.
--
-- The change now takes the locks of the old and the new person, lower
-- key first as the workers do, for the rest of its transaction: it
-- waits for the batches under way, and the batches after it see the new
-- person. An UPDATE of several rows takes them row by row; against a
-- worker taking the same two keys in the other order, PostgreSQL ends
-- one of the two transactions (deadlock detected): the worker's batch
-- is tried again, the operator's statement is run again.

SET LOCAL lock_timeout = '10s';

CREATE FUNCTION beneficiary_person_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    a int := (OLD.person_id & 2147483647)::int;
    b int := (NEW.person_id & 2147483647)::int;
BEGIN
    PERFORM pg_advisory_xact_lock(7415003, least(a, b));
    PERFORM pg_advisory_xact_lock(7415003, greatest(a, b));
    RETURN NEW;
END $$;

CREATE TRIGGER beneficiaries_person_change BEFORE UPDATE OF person_id ON beneficiaries
    FOR EACH ROW WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id)
    EXECUTE FUNCTION beneficiary_person_change();
