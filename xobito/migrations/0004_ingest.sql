-- What ingest keeps itself: events it could not hand to any workspace,
-- and webhook parts it could not read. Both are written only when a
-- webhook has such events; dedupe_key makes a redelivered webhook add
-- nothing.
CREATE SCHEMA IF NOT EXISTS ingest;

-- Events whose phone_number_id or WABA id belongs to no workspace.
CREATE TABLE ingest.unroutable_events (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    route_key    text NOT NULL,
    received_at  timestamptz NOT NULL,
    -- The normalized event, as protobuf's JSON mapping.
    payload      jsonb NOT NULL,
    -- SHA-256 of the kind and the serialized event.
    dedupe_key   bytea NOT NULL UNIQUE
);

CREATE INDEX unroutable_events_newest
    ON ingest.unroutable_events (received_at DESC, id DESC);

CREATE INDEX unroutable_events_route_key
    ON ingest.unroutable_events (route_key);

-- Parts of signed webhooks that were recorded nowhere else: elements the
-- parser rejected, and batches a service refused for good. Kept for an
-- operator to read and replay.
CREATE TABLE ingest.dead_letters (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL,
    reason       text NOT NULL,
    received_at  timestamptz NOT NULL,
    element      jsonb NOT NULL,
    -- SHA-256 of the kind, the reason and the element.
    dedupe_key   bytea NOT NULL UNIQUE
);

CREATE INDEX dead_letters_newest
    ON ingest.dead_letters (received_at DESC, id DESC);
