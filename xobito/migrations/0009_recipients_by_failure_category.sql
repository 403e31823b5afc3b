-- The recipient table filtered by failure category: only failed
-- recipients show a failure, so only they are indexed.
CREATE INDEX recipients_by_failure_category
    ON metrics.recipients (campaign_id, failure_category, id)
    WHERE status = 3;
