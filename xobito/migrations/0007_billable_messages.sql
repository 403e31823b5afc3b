-- Meta's pricing of each campaign message, once per wamid: Meta repeats
-- it on the sent and the delivered status. A message counts as billable
-- when any of its statuses said so.
CREATE TABLE metrics.billable_messages (
    wamid        text PRIMARY KEY,
    campaign_id  text NOT NULL REFERENCES metrics.campaigns (id),
    category     text NOT NULL,
    billable     boolean NOT NULL
);

CREATE INDEX billable_messages_by_campaign
    ON metrics.billable_messages (campaign_id, category) WHERE billable;
