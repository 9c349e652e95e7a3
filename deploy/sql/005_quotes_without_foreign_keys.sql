-- 005_quotes_without_foreign_keys.sql - quotes are written thousands of
-- times a second by the reimbursement workers; each foreign key cost a
-- lookup and a FOR KEY SHARE lock on the professional, beneficiary and
-- contract rows (a fifth of the quote's database time, measured). Their
-- values come from the rights the front door has just read and the
-- professional its key identified; professionals, beneficiaries and
-- contracts are never deleted. Claims, lines and decisions keep theirs.
ALTER TABLE quotes DROP CONSTRAINT quotes_professional_id_fkey;
ALTER TABLE quotes DROP CONSTRAINT quotes_beneficiary_id_fkey;
ALTER TABLE quotes DROP CONSTRAINT quotes_contract_id_fkey;
-- Nothing reads quotes by beneficiary; the index only cost writes.
DROP INDEX quotes_beneficiary;
