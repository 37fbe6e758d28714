-- SAML service providers registered at run time (PostgreSQL).
-- `document` is the whole registration (eid_core::SamlSpRegistration: names, release list, the
-- metadata XML, the metadata URL with its anchor certificate and refresh state) as JSON, TEXT like
-- every JSON column; `entity_id` repeats its entity ID as the key. `revision` counts the writes of
-- a row (conditional replaces compare it). Times are unix microseconds (BIGINT). `entity_id`
-- compares bytewise (COLLATE "C", as SQLite's BINARY), so listing gives the same order on both.
CREATE TABLE saml_service_providers (
    entity_id     TEXT    COLLATE "C" NOT NULL PRIMARY KEY,
    document      TEXT    NOT NULL,
    revision      BIGINT  NOT NULL,
    updated_at_us BIGINT  NOT NULL
);
