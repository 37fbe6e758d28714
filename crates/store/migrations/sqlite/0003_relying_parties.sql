-- The relying-party registry (SQLite).
-- `document` is the whole registration (eid_core::RelyingParty) as JSON, TEXT like every JSON
-- column; `client_id` repeats its client id as the key. Times are unix microseconds (BIGINT).
-- `client_id` compares bytewise (SQLite's default BINARY collation; COLLATE "C" on PostgreSQL), so
-- listing by client id gives the same order on both backends.
CREATE TABLE relying_parties (
    client_id     TEXT    NOT NULL PRIMARY KEY,
    document      TEXT    NOT NULL,
    updated_at_us BIGINT  NOT NULL
);
