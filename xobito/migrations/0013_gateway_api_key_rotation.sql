-- Keys get an optional name, unique among a workspace's active keys, so a
-- rotation's new key takes over the name of the one it replaces; a rotated
-- key's revoked_at may lie in the future (its grace period).
-- peppered: the digest is HMAC-SHA256(API_KEY_PEPPER, SHA-256(key)); rows
-- stored before the pepper hold the bare SHA-256 until the gateway, at
-- start, re-hashes them.
ALTER TABLE gateway.api_keys
    ADD COLUMN name text,
    ADD COLUMN peppered boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX api_keys_active_name
    ON gateway.api_keys (workspace_id, name)
    WHERE name IS NOT NULL AND revoked_at IS NULL;
