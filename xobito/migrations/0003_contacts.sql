-- Contacts: one per (workspace, phone), with the flags that decide whether
-- a campaign may message them, the audit trail of those flags, and what
-- each contact wrote to the business.
CREATE SCHEMA contacts;

-- Each flag keeps who set its current value (rule, meta or agent), why,
-- and the time of the event behind that change (not the time we learnt
-- of it), so that a late webhook cannot undo a newer decision.
CREATE TABLE contacts.contacts (
    workspace_id          text NOT NULL,
    phone                 text NOT NULL,
    name                  text NOT NULL DEFAULT '',
    opted_out             boolean NOT NULL DEFAULT false,
    opted_out_reason      text NOT NULL DEFAULT '',
    opted_out_by          text NOT NULL DEFAULT '',
    opted_out_changed_at  timestamptz,
    inactive              boolean NOT NULL DEFAULT false,
    inactive_reason       text NOT NULL DEFAULT '',
    inactive_by           text NOT NULL DEFAULT '',
    inactive_changed_at   timestamptz,
    failure_streak        integer NOT NULL DEFAULT 0,
    last_inbound_at       timestamptz,
    last_delivered_at     timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, phone)
);

CREATE TABLE contacts.messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id    text NOT NULL,
    phone           text NOT NULL,
    wamid           text NOT NULL,
    type            text NOT NULL DEFAULT '',
    text            text NOT NULL DEFAULT '',
    button_payload  text NOT NULL DEFAULT '',
    context_wamid   text NOT NULL DEFAULT '',
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- Meta retries webhooks: a message id seen twice is stored once.
    UNIQUE (workspace_id, wamid),
    FOREIGN KEY (workspace_id, phone) REFERENCES contacts.contacts
);

CREATE INDEX messages_by_contact
    ON contacts.messages (workspace_id, phone, occurred_at DESC, id DESC);

CREATE TABLE contacts.flag_changes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  text NOT NULL,
    phone         text NOT NULL,
    flag          text NOT NULL CHECK (flag IN ('opted_out', 'inactive')),
    value         boolean NOT NULL,
    reason        text NOT NULL,
    set_by        text NOT NULL CHECK (set_by IN ('rule', 'meta', 'agent')),
    note          text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, phone) REFERENCES contacts.contacts
);

CREATE INDEX flag_changes_by_contact
    ON contacts.flag_changes (workspace_id, phone, at DESC, id DESC);

-- Failed sends that say the number cannot receive, one row per message,
-- so that a retried webhook never counts twice. The failure streak is the
-- number of these after the contact's last delivery.
CREATE TABLE contacts.undeliverable_sends (
    workspace_id  text NOT NULL,
    wamid         text NOT NULL,
    phone         text NOT NULL,
    error_code    integer NOT NULL,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, wamid)
);

CREATE INDEX undeliverable_sends_by_contact
    ON contacts.undeliverable_sends (workspace_id, phone, occurred_at);
