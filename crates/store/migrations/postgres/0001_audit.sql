-- The append-only audit log (PostgreSQL).
-- Times are unix microseconds (BIGINT); UUIDs and JSON are TEXT, so one query text serves SQLite
-- and PostgreSQL through sqlx's Any driver.
-- `seq` orders events of the same microsecond; it ends both indexes so that "newest first"
-- (ORDER BY at_us DESC, seq DESC) is a backward index scan.
CREATE TABLE audit_events (
    seq       BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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

CREATE INDEX audit_events_person_at ON audit_events (person, at_us, seq);
CREATE INDEX audit_events_kind_at ON audit_events (kind, at_us, seq);
