-- The recipient table filtered by status and sorted by a time: one
-- index range per page, in the page's order, instead of every row of
-- that status read and sorted. Sorting by status, or by the order of
-- adding, within a status is recipients_by_status already.
--
-- Built inside the migration's transaction, so writes to the table wait
-- while they are built: on a large table, build them CONCURRENTLY by
-- hand before migrating.
CREATE INDEX IF NOT EXISTS recipients_by_status_sent_at
    ON metrics.recipients (campaign_id, status, sent_at, id);
CREATE INDEX IF NOT EXISTS recipients_by_status_delivered_at
    ON metrics.recipients (campaign_id, status, delivered_at, id);
CREATE INDEX IF NOT EXISTS recipients_by_status_read_at
    ON metrics.recipients (campaign_id, status, read_at, id);

-- The order recipients were added in, within a campaign: the table's
-- default order, and the order a search walks. The primary key alone
-- walks every older campaign's rows first.
CREATE INDEX IF NOT EXISTS recipients_by_campaign
    ON metrics.recipients (campaign_id, id);
