-- The person register and the persons' enrolled authenticators (SQLite).
-- Same conventions as 0001: times are unix microseconds (BIGINT), UUIDs TEXT; dates are TEXT
-- `YYYY-MM-DD`; enums are their stable stored names.
-- `user_id_lower` is the user ID lower-cased by the application: its UNIQUE makes user IDs unique
-- case-insensitively (Unicode-aware, which SQLite's NOCASE is not), and lookups compare it.
-- The activation code lives on the person row: at most one per person, replaced by a new one.
CREATE TABLE persons (
    id                    TEXT    NOT NULL PRIMARY KEY,
    cpr                   TEXT    NOT NULL UNIQUE,
    given_name            TEXT    NOT NULL,
    family_name           TEXT    NOT NULL,
    birthdate             TEXT    NOT NULL,
    ial                   TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    user_id               TEXT,
    user_id_lower         TEXT    UNIQUE,
    created_at_us         BIGINT  NOT NULL,
    activation_code_hash  TEXT,
    activation_expires_us BIGINT,
    CHECK ((user_id IS NULL) = (user_id_lower IS NULL)),
    CHECK ((activation_code_hash IS NULL) = (activation_expires_us IS NULL))
);

-- `secret` is kind-specific material (password hash, TOTP secret, serialised passkey, device key).
CREATE TABLE authenticators (
    id            TEXT    NOT NULL PRIMARY KEY,
    person        TEXT    NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    label         TEXT    NOT NULL,
    secret        BLOB    NOT NULL,
    created_at_us BIGINT  NOT NULL,
    last_used_us  BIGINT
);

-- A person's authenticators, oldest first; also serves the foreign key and the per-person count.
CREATE INDEX authenticators_person ON authenticators (person, created_at_us, id);
