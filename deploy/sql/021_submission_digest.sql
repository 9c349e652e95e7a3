-- 021_submission_digest.sql - what a submission said, to know its key
-- used again for something else.
--
-- Why: a second submission under a key already answered (source,
-- external id) gets the first answer and creates nothing, as it must
-- when a sender sends again. But an upstream system that reuses a key
-- for another claim (a counter reset, two systems under one source) was
-- told "accepted, duplicate" and its second claim was lost without a
-- trace. Intake now keeps a SHA-256 of the submission (the
-- ClaimSubmitted as decoded and packed again) with its first answer,
-- and a repeat whose digest differs is said: `content_differs` in the
-- socket's reply (and a tiers-payant invoice's), and, for one read from
-- Kafka, a copy in claims.submitted.dlq with the reason. Rows written
-- before this release have none: a repeat of them is taken as the same.

SET LOCAL lock_timeout = '10s';

ALTER TABLE claims ADD COLUMN content_digest bytea;
ALTER TABLE claim_rejections ADD COLUMN content_digest bytea;
