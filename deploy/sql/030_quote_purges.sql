-- 030_quote_purges.sql - quotes deleted some time after their validity
-- ends, and what an invoice citing one of them is told.
--
-- Why: a quote is kept so that the invoice which follows can cite it
-- (004); once its validity has ended no invoice can, and the row (the
-- care asked for a named beneficiary: health data, about 900 bytes)
-- only grows the table. `claimctl quotes purge --days N` deletes the
-- quotes whose validity ended more than N days ago.
--
-- An invoice citing a quote that is not stored is refused QUOTE_UNKNOWN
-- and kept for replay, because a quote is stored a moment after its
-- answer. Once purged, a quote would be "unknown" for ever: each purge
-- records its cut, and intake answers QUOTE_EXPIRED (recorded, final)
-- for a quote id made before the last cut that is not stored. That is
-- exact without knowing how long quotes were valid: a quote made
-- before the cut and still valid after it is not purged, so it is found.
-- A quote id is a UUID version 7, whose first 48 bits are the time it
-- was made (milliseconds since 1970, UTC).

CREATE TABLE quote_purges (
    purge_id     bigserial PRIMARY KEY,
    -- Quotes made before this day (00:00 UTC) whose validity ended
    -- before it are deleted.
    cut          date NOT NULL,
    made_by      text NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,            -- NULL: stopped before the end
    quotes       bigint CHECK (quotes >= 0)
);
-- Intake reads the last cut (max) through it, not the whole table.
CREATE INDEX quote_purges_cut ON quote_purges (cut);

-- The least UUID of the instant the day begins (00:00 UTC): every
-- version 7 UUID made before it sorts before it (PostgreSQL compares
-- UUIDs byte by byte, the time first), every one made from it on after.
-- The purge walks the quotes' primary key up to it; intake compares
-- the ids of unknown quotes with it.
CREATE FUNCTION uuid_v7_floor(day date) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-0000-0000-000000000000')::uuid
    FROM lpad(to_hex((extract(epoch FROM day::timestamp) * 1000)::bigint), 12, '0') AS h
$$;
