-- 019_guarantee_per_act_or_envelope.sql - a guarantee pays a forfait per
-- act or an annual envelope, not both.
--
-- Why: the consumption history keeps one forfait per day and category,
-- so the envelope's use cannot be told apart from per-act forfaits, and
-- the amount paid came to depend on how the acts were split into lines.
-- The engine refuses the pair since this release (docs/rules.md), and a
-- worker refuses to start on formulas it cannot load: a database holding
-- one stops the upgrade here, with the formulas named, rather than at
-- the workers' start.

SET LOCAL lock_timeout = '10s';

DO $$
DECLARE
    bad text;
BEGIN
    SELECT string_agg(format('%s v%s %s', formula_code, version, category), ', ')
      INTO bad
      FROM guarantees
     WHERE spec ? 'per_act_cents' AND spec ? 'annual_cents';
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'guarantees with both a forfait per act and an annual envelope: %', bad
            USING HINT = 'keep either the forfait per act or the envelope in each of the '
                         'guarantees named (these rows themselves), then migrate';
    END IF;
END
$$;

ALTER TABLE guarantees ADD CONSTRAINT guarantees_per_act_or_envelope
    CHECK (NOT (spec ? 'per_act_cents' AND spec ? 'annual_cents'));
