-- 031_notifications_feed.sql - the member's notifications, as the notify
-- daemon records them.
--
-- Why: `notifications` (003) was made for a stage to come. The notify
-- daemon now writes one row for each decision on a claim and each
-- payment made to, or returned by the bank of, a member. The online
-- account reads a member's newest rows first: by member, in the order
-- of their ids (UUID version 7, time first). Support asks what a member
-- was told about one claim: by claim. The table was empty until this
-- release, so the indexes cost nothing to build.

SET LOCAL lock_timeout = '10s';

-- The claim a notification is about (every notification of this release
-- is about one). No foreign key: a notification is a record of what was
-- said, and writing it must not wait on the claim's row, which the
-- reimbursement workers lock while they decide.
ALTER TABLE notifications ADD COLUMN claim_id uuid;

CREATE INDEX IF NOT EXISTS notifications_member ON notifications (member_id, notification_id);
CREATE INDEX IF NOT EXISTS notifications_claim ON notifications (claim_id)
    WHERE claim_id IS NOT NULL;
