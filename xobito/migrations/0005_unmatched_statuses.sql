-- Statuses whose wamid no send has brought (parked) are listed for the
-- workspace once they are old enough: each keeps the business number it
-- came for, and an index finds them by age.
ALTER TABLE metrics.status_events
    ADD COLUMN phone_number_id text NOT NULL DEFAULT '';

CREATE INDEX status_events_parked_by_age
    ON metrics.status_events (workspace_id, received_at, id) WHERE parked;
