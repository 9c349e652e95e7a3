-- 017_formula_versions_no_overlap.sql - two versions of one formula are
-- never in force on the same day.
--
-- Why: the workers, the quotes and the front door take the version in
-- force at a care date; with two, they took the lower-numbered one and
-- said nothing, so a version published without closing the one before
-- (effective_to left NULL) was never applied. The database now refuses
-- such a publication.
--
-- The constraint is checked at commit (DEFERRABLE INITIALLY DEFERRED):
-- publishing a version and closing the one before are two statements
-- of one transaction, in either order. btree_gist gives the equality on
-- text its GiST operator class; it is a trusted extension (PostgreSQL 13
-- and later): the database's owner may create it.

SET LOCAL lock_timeout = '10s';

CREATE EXTENSION IF NOT EXISTS btree_gist;

DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('%s v%s [%s, %s) and v%s [%s, %s)', a.formula_code,
                             a.version, a.effective_from, coalesce(a.effective_to::text, '…'),
                             b.version, b.effective_from, coalesce(b.effective_to::text, '…')),
                      ', ')
      INTO bad
      FROM formula_versions a
      JOIN formula_versions b
        ON b.formula_code = a.formula_code AND b.version > a.version
       AND daterange(a.effective_from, a.effective_to) && daterange(b.effective_from, b.effective_to);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'formula versions in force on the same days: %', bad
            USING HINT = 'set effective_to of the older version to the newer one''s effective_from '
                         '(the version the workers applied was the lower-numbered one), then migrate';
    END IF;
END
$$;

ALTER TABLE formula_versions ADD CONSTRAINT formula_versions_no_overlap
    EXCLUDE USING gist (formula_code WITH =, daterange(effective_from, effective_to) WITH &&)
    DEFERRABLE INITIALLY DEFERRED;
