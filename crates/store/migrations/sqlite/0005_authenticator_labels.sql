-- Authenticator labels are names the person gives (and may change) in My MitID: at most 40
-- characters, and '' for "no name given", which the pages show as the kind's name in the page's
-- language ("Kodeviser" / "Code display"). The defaults stored before in English are such
-- non-names; labels stored before the bound are cut to it. (Same statement on SQLite and PostgreSQL:
-- length and substr count characters on both.)
UPDATE authenticators SET label = '' WHERE label IN ('Password', 'Code display', 'Phone', 'Passkey');
UPDATE authenticators SET label = substr(label, 1, 40) WHERE length(label) > 40;
