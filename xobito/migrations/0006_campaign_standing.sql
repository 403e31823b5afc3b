-- What a campaign's warnings are read from: its template's language,
-- the display number of each business number, and indexes that find the
-- latest template, quality and account events of metrics.account_events.
ALTER TABLE metrics.campaigns
    ADD COLUMN template_language text NOT NULL DEFAULT '';

-- Quality updates name a number by its display number and WABA only;
-- this maps a phone_number_id to its display number, once known.
CREATE TABLE metrics.business_numbers (
    phone_number_id       text PRIMARY KEY,
    workspace_id          text NOT NULL,
    display_phone_number  text NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX account_events_by_waba
    ON metrics.account_events (workspace_id, kind, waba_id, occurred_at);

CREATE INDEX account_events_by_template
    ON metrics.account_events
       (workspace_id, (payload ->> 'template_name'), occurred_at)
    WHERE kind = 'template_status';

-- Numbers known in a WABA, for routing its quality updates.
CREATE INDEX campaigns_by_waba
    ON metrics.campaigns (workspace_id, waba_id, phone_number_id);
