-- 010_outbox_queue.sql - the relay's queue: the ids of the events still
-- to publish, in a table of their own.
--
-- Why: the relay used to find pending events through a partial index on
-- outbox (event_id WHERE sent_at IS NULL). Marking an event sent leaves
-- its entry in that index, dead, until a vacuum of the whole outbox,
-- which autovacuum starts only once a fifth of the table changed: with
-- millions of events kept for the retention period, each relay pass
-- walked hundreds of thousands of dead entries before finding the first
-- live one (measured: 9 ms and 1,390 pages for an empty queue, on every
-- pass of every relay; 0.06 ms once vacuumed). The queue holds only what
-- is pending, the relay deletes what it published, and a vacuum of so
-- small a table costs next to nothing, so the relays run one themselves
-- every so often (and autovacuum, set below, does too).
--
-- Why a trigger: every event written, by whichever statement or release
-- (workers of the previous release during a rolling upgrade, claimctl,
-- a statement typed by hand), is queued in the same transaction.

-- No event may be written between the copy below and the trigger. Every
-- lock this migration needs is taken first, so that a relay of the
-- previous release (a read, then an update) waits rather than deadlocks
-- with the DROP INDEX below; given up after 10 s rather than hold every
-- writer behind a long transaction (run the migration again).
SET LOCAL lock_timeout = '10s';
LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE;

CREATE TABLE outbox_queue (
    event_id bigint PRIMARY KEY
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);

-- Once per statement, with the rows it added (a transition table). Rows
-- written already sent or set aside (tests, repairs by hand) are not
-- queued.
CREATE FUNCTION outbox_queue_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_queue (event_id)
        SELECT event_id FROM added WHERE sent_at IS NULL AND refused_at IS NULL;
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_queue_insert AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_queue_on_insert();

INSERT INTO outbox_queue (event_id)
    SELECT event_id FROM outbox WHERE sent_at IS NULL AND refused_at IS NULL;

DROP INDEX outbox_pending;
