-- The metrics service: campaigns, one row per recipient, the statuses
-- Meta reported for them, and the outbox that carries counter changes
-- to Redis.
CREATE SCHEMA metrics;

-- Which workspace a business phone number or WABA belongs to.
CREATE TABLE metrics.routes (
    kind          text NOT NULL CHECK (kind IN ('phone_number', 'waba')),
    key           text NOT NULL,
    workspace_id  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);

CREATE TABLE metrics.campaigns (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL,
    name             text NOT NULL,
    phone_number_id  text NOT NULL,
    waba_id          text NOT NULL DEFAULT '',
    template_name    text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX campaigns_newest
    ON metrics.campaigns (workspace_id, created_at DESC, id DESC);

-- status is the rank of xobito.metrics.v1.RecipientStatus (1 PENDING ..
-- 5 READ). called_at is the send call's time, meta_sent_at the time of
-- Meta's `sent` status; sent_at shows Meta's once it came.
CREATE TABLE metrics.recipients (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id       text NOT NULL REFERENCES metrics.campaigns (id),
    phone             text NOT NULL,
    name              text NOT NULL DEFAULT '',
    name_key          text NOT NULL DEFAULT '',
    status            smallint NOT NULL DEFAULT 1
                      CHECK (status BETWEEN 1 AND 5),
    wamid             text UNIQUE,
    called_at         timestamptz,
    meta_sent_at      timestamptz,
    sent_at           timestamptz
                      GENERATED ALWAYS AS (coalesce(meta_sent_at, called_at))
                      STORED,
    delivered_at      timestamptz,
    read_at           timestamptz,
    failed_at         timestamptz,
    failure_code      integer,
    failure_title     text,
    failure_category  text,
    replied_at        timestamptz,
    opted_out_at      timestamptz,
    UNIQUE (campaign_id, phone)
);

-- One index per way the recipient table is filtered or sorted.
CREATE INDEX recipients_by_status
    ON metrics.recipients (campaign_id, status, id);
CREATE INDEX recipients_by_sent_at
    ON metrics.recipients (campaign_id, sent_at, id);
CREATE INDEX recipients_by_delivered_at
    ON metrics.recipients (campaign_id, delivered_at, id);
CREATE INDEX recipients_by_read_at
    ON metrics.recipients (campaign_id, read_at, id);
-- Replies and opt-outs without a quoted message go to the latest send
-- to that phone.
CREATE INDEX recipients_latest_send
    ON metrics.recipients (phone, called_at DESC)
    WHERE called_at IS NOT NULL;

-- Substring search on names and phone digits wants trigram indexes. Not
-- every server ships pg_trgm or lets us install it; search still works
-- without, only slower.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    CREATE INDEX recipients_name_trgm
        ON metrics.recipients USING gin (name_key gin_trgm_ops);
    CREATE INDEX recipients_phone_trgm
        ON metrics.recipients USING gin (phone gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm unavailable (%), search runs unindexed', SQLERRM;
END
$$;

-- Every status Meta reported, once: the recipients' timelines. A status
-- whose wamid has no send yet is parked until RecordSends brings it.
CREATE TABLE metrics.status_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  text NOT NULL,
    wamid         text NOT NULL,
    status        text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    error_code    integer,
    error_title   text,
    detail        jsonb NOT NULL DEFAULT '{}',
    parked        boolean NOT NULL DEFAULT false,
    received_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (wamid, status, occurred_at)
);

CREATE INDEX status_events_parked
    ON metrics.status_events (wamid) WHERE parked;

-- What contacts wrote to a business, without the text, and the campaign
-- recipient it counted for (a reply or an opt-out), if any.
CREATE TABLE metrics.inbound_messages (
    wamid          text PRIMARY KEY,
    workspace_id   text NOT NULL,
    phone          text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    type           text NOT NULL,
    context_wamid  text,
    opt_out        boolean NOT NULL DEFAULT false,
    recipient_id   bigint REFERENCES metrics.recipients (id),
    received_at    timestamptz NOT NULL DEFAULT now()
);

-- Template, quality and account updates, and errors with no message:
-- shown beside the campaigns of the workspace. fingerprint makes a
-- redelivered webhook a no-op.
CREATE TABLE metrics.account_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id     text NOT NULL,
    kind             text NOT NULL,
    waba_id          text NOT NULL DEFAULT '',
    phone_number_id  text NOT NULL DEFAULT '',
    occurred_at      timestamptz NOT NULL,
    payload          jsonb NOT NULL,
    fingerprint      text NOT NULL UNIQUE,
    received_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX account_events_newest
    ON metrics.account_events (workspace_id, occurred_at DESC);

-- Counter changes committed with the rows they describe, waiting to be
-- applied to Redis (see services/metrics/counters.py).
CREATE TABLE metrics.counter_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    campaign_id  text NOT NULL,
    deltas       jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX counter_outbox_campaign
    ON metrics.counter_outbox (campaign_id);
