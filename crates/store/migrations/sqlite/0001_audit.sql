-- The append-only audit log (SQLite).
-- Times are unix microseconds (BIGINT); UUIDs and JSON are TEXT, so one query text serves SQLite
-- and PostgreSQL through sqlx's Any driver.
-- `seq` (the rowid) orders events of the same microsecond; SQLite appends the rowid to every
-- index, so (person, at_us) is in effect (person, at_us, seq).
CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    id        TEXT    NOT NULL UNIQUE,
    at_us     BIGINT  NOT NULL,
    component TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    outcome   TEXT    NOT NULL,
    person    TEXT,
    client    TEXT,
    ip        TEXT,
    details   TEXT    NOT NULL
);

CREATE INDEX audit_events_person_at ON audit_events (person, at_us);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at_us);
