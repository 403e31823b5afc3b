-- Agents set and clear flags by hand: the audit trail names who did it,
-- in the agent's own words (a name, an email address).
ALTER TABLE contacts.flag_changes ADD COLUMN agent text NOT NULL DEFAULT '';
