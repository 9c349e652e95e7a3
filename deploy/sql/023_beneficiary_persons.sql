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
-- one person when they share the birth date and the NIR, or, when either
-- has no NIR, the first name (case aside). Two rows of one contract are
-- never one person (ranks are people). The reimbursement workers read
-- the counters of every row of the person and lock the person, not the
-- row. A row inserted without person_id gets it by this rule (trigger);
-- an operator may set it to join or part rows the rule judged wrongly.

SET LOCAL lock_timeout = '10s';

ALTER TABLE beneficiaries ADD COLUMN person_id bigint;

-- The earliest earlier row of the same person, for a row of contract_id
-- (NULL: none, the row is a person of its own).
CREATE FUNCTION beneficiary_same_person(p_contract_id bigint, p_beneficiary_id bigint,
                                        p_birth_date date, p_nir text, p_first_name text)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT coalesce(o.person_id, o.beneficiary_id)
      FROM contracts c
      JOIN contracts oc ON oc.member_id = c.member_id AND oc.contract_id <> c.contract_id
      JOIN beneficiaries o ON o.contract_id = oc.contract_id
     WHERE c.contract_id = p_contract_id
       AND o.beneficiary_id < p_beneficiary_id
       AND o.birth_date = p_birth_date
       AND CASE WHEN o.nir IS NOT NULL AND p_nir IS NOT NULL THEN o.nir = p_nir
                ELSE lower(o.first_name) = lower(p_first_name) END
     ORDER BY o.beneficiary_id
     LIMIT 1
$$;

-- Existing rows, oldest first, so that each finds its earlier rows named.
DO $$
DECLARE
    b record;
BEGIN
    FOR b IN SELECT beneficiary_id, contract_id, birth_date, nir, first_name
               FROM beneficiaries ORDER BY beneficiary_id LOOP
        UPDATE beneficiaries
           SET person_id = coalesce(beneficiary_same_person(b.contract_id, b.beneficiary_id,
                                                            b.birth_date, b.nir, b.first_name),
                                    b.beneficiary_id)
         WHERE beneficiary_id = b.beneficiary_id;
    END LOOP;
END $$;

ALTER TABLE beneficiaries ALTER COLUMN person_id SET NOT NULL;
CREATE INDEX beneficiaries_person ON beneficiaries (person_id);

CREATE FUNCTION beneficiary_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.person_id IS NULL THEN
        NEW.person_id := coalesce(beneficiary_same_person(NEW.contract_id, NEW.beneficiary_id,
                                                          NEW.birth_date, NEW.nir,
                                                          NEW.first_name),
                                  NEW.beneficiary_id);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER beneficiaries_person BEFORE INSERT ON beneficiaries
    FOR EACH ROW EXECUTE FUNCTION beneficiary_person();
