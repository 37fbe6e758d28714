-- The relying-party registry (PostgreSQL).
-- `document` is the whole registration (eid_core::RelyingParty) as JSON, TEXT like every JSON
-- column; `client_id` repeats its client id as the key. Times are unix microseconds (BIGINT).
-- `client_id` compares bytewise (COLLATE "C", as SQLite's BINARY), so listing by client id gives
-- the same order on both backends whatever the database's default collation.
CREATE TABLE relying_parties (
    client_id     TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    document      TEXT    NOT NULL,
    updated_at_us BIGINT  NOT NULL
);
