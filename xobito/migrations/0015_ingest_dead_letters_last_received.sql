-- When a dead letter was last kept again, by Meta's redelivery of its body
-- or by a replay that met the same fault; received_at stays its first
-- arrival.
ALTER TABLE ingest.dead_letters ADD COLUMN last_received_at timestamptz;
