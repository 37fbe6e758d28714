-- Every committed change of the registry tells the other nodes (LISTEN eid_registry), whoever
-- wrote it: the admin API on any node, a metadata refresh, an operator's SQL. NOTIFY is sent at
-- commit and never for a rolled-back transaction; the payload names the table only.
CREATE FUNCTION eid_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('eid_registry', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER relying_parties_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON relying_parties
    FOR EACH STATEMENT EXECUTE FUNCTION eid_registry_changed();

CREATE TRIGGER saml_service_providers_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON saml_service_providers
    FOR EACH STATEMENT EXECUTE FUNCTION eid_registry_changed();
