-- Signed SAML protocol messages kept as evidence (SQLite): NemLog-in's logging rule, 180 days by
-- default (`broker.protocol_message_retention_days`). Each row is written in the same commit as
-- the audit event it names (`audit_event`). `content` is the message as its signature covers it
-- (see eid_core::protocol_message::Binding); a released assertion in it may hold a CPR number,
-- so the table has the audit log's protection. No other column holds personal data. Same
-- conventions as 0001: times are unix microseconds, UUIDs TEXT; `sent_encrypted` is 0 or 1.
CREATE TABLE protocol_messages (
    seq            INTEGER PRIMARY KEY,
    id             TEXT    NOT NULL UNIQUE,
    at_us          BIGINT  NOT NULL,
    direction      TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    binding        TEXT    NOT NULL,
    peer           TEXT    NOT NULL,
    message_id     TEXT    NOT NULL,
    in_response_to TEXT,
    session        TEXT,
    sent_encrypted BIGINT  NOT NULL,
    audit_event    TEXT,
    content        TEXT    NOT NULL
);

-- Retention deletes the oldest first; operators read from an instant on.
CREATE INDEX protocol_messages_at ON protocol_messages (at_us);
-- Operators read one service's messages from an instant on.
CREATE INDEX protocol_messages_peer_at ON protocol_messages (peer, at_us);
