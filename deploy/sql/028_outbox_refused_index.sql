-- 028_outbox_refused_index.sql - the events Kafka refused, found without
-- reading the outbox whole.
--
-- Why: `claimctl outbox refused` (what an operator runs when the
-- outbox_refused_total alert fires) and `claimctl outbox retry --all`
-- read every row of the outbox to find the few refused ones: 0.8 s for
-- 2.8 million rows on the development database, a week of events in
-- production. A partial index holds only the refused ones: the relays'
-- new events, never refused, write nothing to it.
--
-- On a large table, build it beforehand without blocking writers, and
-- this migration finds it made:
--   CREATE INDEX CONCURRENTLY outbox_refused
--       ON outbox (event_id) WHERE refused_at IS NOT NULL;

SET LOCAL lock_timeout = '10s';

CREATE INDEX IF NOT EXISTS outbox_refused ON outbox (event_id) WHERE refused_at IS NOT NULL;
