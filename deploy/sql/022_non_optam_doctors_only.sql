-- 022_non_optam_doctors_only.sql - non_optam_pct_brss is kept on
-- doctors' fees only.
--
-- Why: the engine reads a guarantee's non_optam_pct_brss on doctors'
-- fees alone (CONSULT_GP, CONSULT_SPEC, HOSP_HONORAIRES, RADIOLOGIE),
-- and since this release refuses it elsewhere, where it promised
-- something the formula never paid. A version published before, with
-- the member on another category, would stop the reimbursement workers
-- from loading their formulas (they refuse to start on one they cannot
-- read). The member changed nothing there: it is taken out, and the
-- amounts of every claim stay what they were.

SET LOCAL lock_timeout = '10s';

UPDATE guarantees SET spec = spec - 'non_optam_pct_brss'
 WHERE spec ? 'non_optam_pct_brss'
   AND category NOT IN ('CONSULT_GP', 'CONSULT_SPEC', 'HOSP_HONORAIRES', 'RADIOLOGIE');
