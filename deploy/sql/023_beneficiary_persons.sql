-- 023_beneficiary_persons.sql - one person behind the beneficiary rows of
-- a member's successive contracts.
--
-- Why: a beneficiary row belongs to one contract, and a change of contract
-- (another guarantee level, a renewal under new terms) gives the same
-- person a new row. Consumption was counted per row, so it started again
-- with the new contract: glasses paid in December under the old contract
-- were paid again in March under the new one (the renewal period is the
-- person's), and the calendar year's caps (PF and franchises, which are
-- the person's under the Assurance Maladie, and the AMC's annual caps,
-- envelopes and acts) were consumed a second time.
--
-- person_id names the person: the beneficiary_id of the person's first
-- row. Rows of one member's contracts (the subscriber's membership) are
-- one person when they have the same relationship (subscriber, spouse,
-- child), birth date and first name (case aside), and NIRs that do not
-- differ (equal, or one of them unknown). The relationship and the first
-- name keep apart twins (a child's row may carry the parent's NIR) and a
-- spouse born the same day as the subscriber. A row inserted without
-- person_id gets it by this rule (trigger), never joining a person who
-- already has a row on the same contract (ranks are people). The
-- reimbursement workers read the counters of every row of the person and
-- lock the person, not the row. An operator may set person_id by hand to
-- join or part rows the rule judged wrongly (a child who became a
-- subscriber under a membership of their own is a new person to it).
--
-- Cost: the column is added and every row written once, in one
-- statement, under the lock ADD COLUMN takes: the daemons wait for it
-- (measured: 13.5 s for a million beneficiary rows on the development
-- machine). Apply it with the workers stopped, or in a quiet hour.

SET LOCAL lock_timeout = '10s';

ALTER TABLE beneficiaries ADD COLUMN person_id bigint;

UPDATE beneficiaries b
   SET person_id = (
       SELECT min(o.beneficiary_id)
         FROM contracts c
         JOIN contracts oc ON oc.member_id = c.member_id
         JOIN beneficiaries o ON o.contract_id = oc.contract_id
        WHERE c.contract_id = b.contract_id
          AND o.relationship = b.relationship
          AND o.birth_date = b.birth_date
          AND lower(o.first_name) = lower(b.first_name)
          AND (nullif(o.nir, '') IS NULL OR nullif(b.nir, '') IS NULL OR o.nir = b.nir));

ALTER TABLE beneficiaries ALTER COLUMN person_id SET NOT NULL;
CREATE INDEX beneficiaries_person ON beneficiaries (person_id);

CREATE FUNCTION beneficiary_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.person_id IS NULL THEN
        SELECT o.person_id INTO NEW.person_id
          FROM contracts c
          JOIN contracts oc ON oc.member_id = c.member_id AND oc.contract_id <> c.contract_id
          JOIN beneficiaries o ON o.contract_id = oc.contract_id
         WHERE c.contract_id = NEW.contract_id
           AND o.relationship = NEW.relationship
           AND o.birth_date = NEW.birth_date
           AND lower(o.first_name) = lower(NEW.first_name)
           AND (nullif(o.nir, '') IS NULL OR nullif(NEW.nir, '') IS NULL OR o.nir = NEW.nir)
           AND NOT EXISTS (SELECT 1 FROM beneficiaries s
                            WHERE s.contract_id = NEW.contract_id AND s.person_id = o.person_id)
         ORDER BY o.person_id
         LIMIT 1;
        NEW.person_id := coalesce(NEW.person_id, NEW.beneficiary_id);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER beneficiaries_person BEFORE INSERT ON beneficiaries
    FOR EACH ROW EXECUTE FUNCTION beneficiary_person();
