-- Failed recipients queued for a retry, from the campaign page. A row
-- names the failure it retries (code and time), so a recipient is queued
-- once per failure; a new failure after a retry may be queued again.
-- handed_out_at is set when WatchRetries streams the row to the sender.
CREATE TABLE metrics.retries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient_id   bigint NOT NULL REFERENCES metrics.recipients (id),
    campaign_id    text NOT NULL REFERENCES metrics.campaigns (id),
    workspace_id   text NOT NULL,
    failure_code   integer NOT NULL,
    failed_at      timestamptz NOT NULL,
    queued_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    handed_out_at  timestamptz,
    UNIQUE (recipient_id, failure_code, failed_at)
);

-- What WatchRetries hands out next, oldest first.
CREATE INDEX retries_waiting
    ON metrics.retries (workspace_id, id) WHERE handed_out_at IS NULL;
