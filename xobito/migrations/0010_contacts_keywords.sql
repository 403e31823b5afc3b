-- A workspace's own stop and start keywords, on top of the defaults in
-- xobito/optout.py, stored normalized as optout.normalize() leaves them.
CREATE TABLE contacts.keywords (
    workspace_id    text PRIMARY KEY,
    stop_keywords   text[] NOT NULL DEFAULT '{}',
    start_keywords  text[] NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now()
);
