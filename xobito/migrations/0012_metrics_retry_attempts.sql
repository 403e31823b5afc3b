-- A retry is a new attempt at the recipient's message. The row shows
-- the latest attempt (attempt counts them from 1); the wamids of the
-- earlier ones stay here, so that their late statuses still reach the
-- recipient's timeline without changing its row.
ALTER TABLE metrics.recipients
    ADD COLUMN attempt integer NOT NULL DEFAULT 1;

CREATE TABLE metrics.earlier_wamids (
    wamid         text PRIMARY KEY,
    recipient_id  bigint NOT NULL REFERENCES metrics.recipients (id),
    attempt       integer NOT NULL
);

CREATE INDEX earlier_wamids_by_recipient
    ON metrics.earlier_wamids (recipient_id);

-- A retry names the failed attempt it retries, so a recipient whose
-- retry fails again, even with the same code, may be queued again.
ALTER TABLE metrics.retries
    ADD COLUMN attempt integer NOT NULL DEFAULT 1;

-- Every retry queued so far was for a first attempt: keep the oldest.
DELETE FROM metrics.retries AS later
USING metrics.retries AS first
WHERE later.recipient_id = first.recipient_id AND later.id > first.id;

ALTER TABLE metrics.retries
    DROP CONSTRAINT retries_recipient_id_failure_code_failed_at_key,
    ADD CONSTRAINT retries_once_per_attempt UNIQUE (recipient_id, attempt);
