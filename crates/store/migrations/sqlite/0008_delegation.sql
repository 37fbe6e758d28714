-- The delegation registry (sqlite): powers of attorney, business rights, business powers, and the
-- register's legal-competence flag. Same conventions as 0001: times are unix microseconds, UUIDs
-- TEXT, enums their stable stored names.

-- Whether a person may give a power of attorney (not under guardianship).
ALTER TABLE persons ADD COLUMN legally_competent BOOLEAN NOT NULL DEFAULT 1;

CREATE TABLE delegation_organisations (
    cvr           TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL,
    created_at_us BIGINT  NOT NULL
);

-- One row per mandate of any kind, holding its current state (the history is in
-- delegation_history). A person party is (upstream, subject) plus register id, CPR number and
-- name; an organisation party is its CVR number and name. `revision` counts state changes and is
-- the compare-and-set token of a change.
CREATE TABLE delegation_mandates (
    id                 TEXT    NOT NULL PRIMARY KEY,
    kind               TEXT    NOT NULL,
    principal_upstream TEXT,
    principal_subject  TEXT,
    principal_person   TEXT,
    principal_cpr      TEXT,
    principal_cvr      TEXT,
    principal_name     TEXT    NOT NULL,
    agent_upstream     TEXT,
    agent_subject      TEXT,
    agent_person       TEXT,
    agent_cpr          TEXT,
    agent_cvr          TEXT,
    agent_name         TEXT    NOT NULL,
    access             TEXT    NOT NULL,
    administrator      BOOLEAN NOT NULL DEFAULT 0,
    privileges         TEXT    NOT NULL,
    state              TEXT    NOT NULL,
    valid_from_us      BIGINT  NOT NULL,
    valid_until_us     BIGINT,
    created_at_us      BIGINT  NOT NULL,
    revision           BIGINT  NOT NULL,
    CHECK ((principal_cvr IS NULL) = (principal_subject IS NOT NULL)),
    CHECK ((agent_cvr IS NULL) = (agent_subject IS NOT NULL)),
    CHECK (valid_until_us IS NULL OR valid_until_us > valid_from_us)
);

-- What a mandate covers: `rp:<relying party id>` or `area:<service area>`.
CREATE TABLE delegation_scopes (
    mandate TEXT NOT NULL REFERENCES delegation_mandates (id),
    scope   TEXT NOT NULL,
    PRIMARY KEY (mandate, scope)
);

-- Every state a mandate entered, with its author; never updated or deleted.
CREATE TABLE delegation_history (
    mandate      TEXT    NOT NULL REFERENCES delegation_mandates (id),
    revision     BIGINT  NOT NULL,
    state        TEXT    NOT NULL,
    by_upstream  TEXT,
    by_subject   TEXT,
    by_name      TEXT,
    at_us        BIGINT  NOT NULL,
    PRIMARY KEY (mandate, revision)
);

-- The lookup at login: a person's usable mandates (and rights), by agent, state and validity.
CREATE INDEX delegation_mandates_agent_person
    ON delegation_mandates (agent_subject, agent_upstream, state, valid_until_us);
-- The second leg of the lookup (powers held by the person's employer) and organisations' lists.
CREATE INDEX delegation_mandates_agent_org
    ON delegation_mandates (agent_cvr, state, valid_until_us);
-- Listings of what a party gave.
CREATE INDEX delegation_mandates_principal_person
    ON delegation_mandates (principal_subject, principal_upstream, created_at_us);
CREATE INDEX delegation_mandates_principal_org
    ON delegation_mandates (principal_cvr, created_at_us);
-- Lazy expiry: mandates not final whose end has come.
CREATE INDEX delegation_mandates_due
    ON delegation_mandates (valid_until_us)
    WHERE state IN ('requested', 'pending', 'active') AND valid_until_us IS NOT NULL;
