-- 029_indexes_built_valid.sql - the indexes of 027 and 028 usable.
--
-- Why: 027 and 028 advise building their index beforehand with CREATE
-- INDEX CONCURRENTLY, and find it made (IF NOT EXISTS). A concurrent
-- build that fails or is cancelled leaves an index of that name marked
-- invalid: PostgreSQL keeps writing to it but never reads it, and the
-- migration, finding the name, would have left `payments settle` and
-- `outbox refused` reading whole tables as before. An invalid one is
-- built again here, as 027 and 028 define it (holding writes to its
-- table while it builds, as they say); a valid one is left alone.

SET LOCAL lock_timeout = '10s';

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_index
               WHERE indexrelid = to_regclass('public.payments_bank_reference')
                 AND NOT indisvalid) THEN
        RAISE NOTICE 'payments_bank_reference was left invalid by a failed build: built again';
        DROP INDEX public.payments_bank_reference;
        CREATE INDEX payments_bank_reference
            ON payments (bank_reference) WHERE bank_reference IS NOT NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_index
               WHERE indexrelid = to_regclass('public.outbox_refused')
                 AND NOT indisvalid) THEN
        RAISE NOTICE 'outbox_refused was left invalid by a failed build: built again';
        DROP INDEX public.outbox_refused;
        CREATE INDEX outbox_refused ON outbox (event_id) WHERE refused_at IS NOT NULL;
    END IF;
END
$$;
