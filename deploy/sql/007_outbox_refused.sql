-- 007_outbox_refused.sql - an event Kafka can never take as it is (larger
-- than the topic allows, a topic that does not exist) is set aside with
-- the reason instead of blocking every event behind it: the relay skips
-- it, `claimctl outbox refused` lists it, `claimctl outbox retry` puts it
-- back once the cause is fixed (the topic created, the limit raised).
ALTER TABLE outbox ADD COLUMN refused_at timestamptz;
ALTER TABLE outbox ADD COLUMN refusal text;
