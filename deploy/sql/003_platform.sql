-- 003_platform.sql - outbox, processed-message ledger, documents,
-- notifications, audit log.

-- Events written in the same transaction as the effects they announce;
-- the relay publishes pending rows in event_id order and marks them sent.
CREATE TABLE outbox (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id   uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    msg_type     integer NOT NULL,
    payload      bytea NOT NULL,             -- the whole protobuf envelope
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
CREATE INDEX outbox_pending ON outbox (event_id) WHERE sent_at IS NULL;

-- Messages a consumer has fully handled, for consumers whose effects have
-- no natural unique key.
CREATE TABLE processed_messages (
    consumer      text NOT NULL,
    message_id    uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);

CREATE TABLE documents (
    document_id   uuid PRIMARY KEY,
    member_id     bigint NOT NULL REFERENCES members,
    kind          text NOT NULL CHECK (kind IN ('releve_prestations', 'attestation_droits',
                                                 'carte_tiers_payant')),
    period_from   date,
    period_to     date,
    sha256        text,
    size_bytes    bigint,
    content       bytea,
    status        text NOT NULL DEFAULT 'requested' CHECK (status IN ('requested', 'ready', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    ready_at      timestamptz
);

CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    member_id       bigint NOT NULL REFERENCES members,
    channel         text NOT NULL CHECK (channel IN ('in_app', 'email', 'sms')),
    template        text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}',
    dedupe_key      text NOT NULL UNIQUE,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);

CREATE TABLE audit_log (
    audit_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,             -- daemon or operator
    action       text NOT NULL,
    entity       text NOT NULL,
    entity_id    text NOT NULL,
    detail       jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
