-- Workspaces and the API keys that open them. Keys are stored as SHA-256
-- digests only; the key itself is shown once, when it is made.
CREATE SCHEMA gateway;

CREATE TABLE gateway.workspaces (
    id          text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateway.api_keys (
    id            bigserial PRIMARY KEY,
    workspace_id  text NOT NULL REFERENCES gateway.workspaces (id),
    key_digest    bytea NOT NULL UNIQUE,
    key_prefix    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
