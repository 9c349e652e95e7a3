-- 008_line_prices_as_given.sql - a line's BRSS and AMO rate as the sender
-- gave them: NULL when absent, in which case the engine priced the act
-- from the act table (docs/rules.md). Until now an absent value was
-- stored as 0, which a claim sent again to the workers (`claimctl claim
-- redecide`) could not tell from a real 0. Lines recorded before this
-- migration keep their 0. Dropping NOT NULL rewrites nothing.
ALTER TABLE claim_lines ALTER COLUMN brss_cents DROP NOT NULL;
ALTER TABLE claim_lines ALTER COLUMN amo_rate DROP NOT NULL;
