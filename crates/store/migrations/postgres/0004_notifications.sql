-- The notification outbox (PostgreSQL): messages to a person about their own account ("a passkey was
-- added to your MitID"), written durably with the change and delivered later by a sender (e-Boks,
-- e-mail, the app), which marks each one sent. Same conventions as 0001: times are unix
-- microseconds, UUIDs TEXT, `details` is a JSON object (never secrets).
CREATE TABLE notifications (
    id            TEXT    NOT NULL PRIMARY KEY,
    person        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    details       TEXT    NOT NULL,
    created_at_us BIGINT  NOT NULL,
    sent_at_us    BIGINT
);

-- What the sender has still to deliver, oldest first.
CREATE INDEX notifications_pending ON notifications (created_at_us, id) WHERE sent_at_us IS NULL;
-- A person's messages, newest first.
CREATE INDEX notifications_person ON notifications (person, created_at_us);
