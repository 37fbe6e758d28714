//! The OpenAPI 3.1 description served at `/api/openapi.json`, built from [`ROUTES`] so that every
//! route is described (and nothing else is).

use serde_json::{Map, Value, json};

use super::wire::{DEFAULT_LIMIT, MAX_BODY, MAX_LIMIT};
use super::{Op, ROUTES};

/// What the description says of one operation: summary, request body schema, success status
/// and schema, and whether it needs a fresh login.
struct Doc {
    summary: &'static str,
    body: Option<&'static str>,
    ok: (&'static str, &'static str),
    fresh: bool,
}

const fn doc(
    summary: &'static str,
    body: Option<&'static str>,
    ok: (&'static str, &'static str),
    fresh: bool,
) -> Doc {
    Doc {
        summary,
        body,
        ok,
        fresh,
    }
}

fn describe(op: Op) -> Doc {
    match op {
        Op::OpenApi => doc("This description", None, ("200", "OpenApi"), false),
        Op::Given => doc(
            "Powers of attorney the caller gave, and requests made to them, newest first",
            None,
            ("200", "MandateList"),
            false,
        ),
        Op::Held => doc(
            "Powers of attorney and business rights the caller holds or asked for, newest first",
            None,
            ("200", "MandateList"),
            false,
        ),
        Op::Pending => doc(
            "What awaits the caller's answer: grants to accept, requests to approve",
            None,
            ("200", "Pending"),
            false,
        ),
        Op::PrepareGrant => doc(
            "Prepare a power of attorney: checks it and returns the draft to show and confirm",
            Some("GrantBody"),
            ("201", "Draft"),
            true,
        ),
        Op::Confirm => doc(
            "Confirm a draft exactly as prepared (the sign step): creates the power of attorney, \
             or approves the request",
            Some("Confirmation"),
            ("200", "Mandate"),
            true,
        ),
        Op::Request => doc(
            "Ask a person for a power of attorney; it is active once they approve it",
            Some("RequestBody"),
            ("201", "Mandate"),
            true,
        ),
        Op::Mandate => doc(
            "One mandate the caller is party to, with its history",
            None,
            ("200", "MandateWithHistory"),
            false,
        ),
        Op::PrepareApproval => doc(
            "Prepare the approval of a request made to the caller: the draft to confirm",
            None,
            ("201", "Draft"),
            true,
        ),
        Op::Accept => doc(
            "Accept a pending power of attorney (the agent, or an administrator of the agent \
             organisation)",
            None,
            ("200", "Mandate"),
            true,
        ),
        Op::Decline => doc(
            "Decline a pending grant (the agent) or a request (the principal)",
            None,
            ("200", "Mandate"),
            false,
        ),
        Op::Revoke => doc(
            "End a requested, pending or active mandate at once (either party, or an \
             administrator of an organisation party)",
            None,
            ("200", "Mandate"),
            false,
        ),
        Op::Organisations => doc(
            "Organisations the caller administers",
            None,
            ("200", "OrganisationList"),
            false,
        ),
        Op::OrganisationMandates => doc(
            "Rights and powers an organisation gave or holds (its administrators only)",
            None,
            ("200", "MandateList"),
            false,
        ),
        Op::AssignRight => doc(
            "Assign a business right (or an administrator right) to an employee",
            Some("RightBody"),
            ("201", "Mandate"),
            true,
        ),
        Op::GrantPower => doc(
            "Give another organisation a business power",
            Some("PowerBody"),
            ("201", "Mandate"),
            true,
        ),
    }
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": schema("Error") } }
    })
}

fn parameters(op: Op, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if path.contains("{id}") {
        out.push(json!({
            "name": "id", "in": "path", "required": true,
            "schema": { "type": "string", "format": "uuid" }, "description": "The mandate's id"
        }));
    }
    if path.contains("{cvr}") {
        out.push(json!({
            "name": "cvr", "in": "path", "required": true,
            "schema": { "type": "string", "pattern": "^[1-9][0-9]{7}$" },
            "description": "The organisation's CVR number"
        }));
    }
    if matches!(op, Op::Given | Op::Held | Op::OrganisationMandates) {
        out.push(json!({
            "name": "limit", "in": "query", "required": false,
            "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }
        }));
    }
    if op == Op::OrganisationMandates {
        out.push(json!({
            "name": "side", "in": "query", "required": false,
            "schema": { "type": "string", "enum": ["given", "held"], "default": "given" }
        }));
    }
    out
}

fn operation(op: Op, path: &str) -> Value {
    let d = describe(op);
    let mut responses = Map::new();
    responses.insert(
        d.ok.0.to_owned(),
        json!({
            "description": "Done",
            "content": { "application/json": { "schema": schema(d.ok.1) } }
        }),
    );
    let mut o = json!({
        "operationId": format!("{op:?}"),
        "summary": d.summary,
        "parameters": parameters(op, path),
    });
    if op != Op::OpenApi {
        o["security"] = json!([{ "brokerAccessToken": [] }]);
        for (status, what) in [
            ("400", "Malformed request (body, path or query)"),
            (
                "401",
                if d.fresh {
                    "No or invalid access token; or the login is not fresh enough \
                     (`insufficient_user_authentication`, RFC 9470: log in again at Substantial \
                     or higher)"
                } else {
                    "No or invalid access token"
                },
            ),
            (
                "403",
                "Refused: not in the person register, acting on behalf of someone, not the party \
                 or administrator who may do this, under age or not legally competent",
            ),
            (
                "404",
                "No such mandate the caller is party to, or no such draft",
            ),
            (
                "409",
                "The mandate's state does not allow this, or it changed meanwhile",
            ),
            (
                "503",
                "The registry or the broker is not available: try again",
            ),
        ] {
            responses.insert(status.to_owned(), error_response(what));
        }
        if let Some(body) = d.body {
            o["requestBody"] = json!({
                "required": true,
                "content": { "application/json": { "schema": schema(body) } }
            });
            responses.insert(
                "413".into(),
                error_response(&format!("The body is over {MAX_BODY} bytes")),
            );
            responses.insert("415".into(), error_response("The body is not JSON"));
            responses.insert(
                "422".into(),
                error_response(
                    "Well-formed but refused by the rules: unknown person or organisation, \
                     period too long, too many scopes, draft changed, …",
                ),
            );
        }
    }
    o["responses"] = Value::Object(responses);
    o
}

fn schemas() -> Value {
    let time = json!({ "type": "string", "format": "date-time" });
    let access = json!({ "type": "string", "enum": ["read", "act"] });
    let scope = json!({
        "oneOf": [
            { "type": "object", "required": ["service"], "additionalProperties": false,
              "properties": { "service": { "type": "string", "minLength": 1, "maxLength": 200,
                "description": "A relying party's client id or entity ID" } } },
            { "type": "object", "required": ["area"], "additionalProperties": false,
              "properties": { "area": { "type": "string", "minLength": 1, "maxLength": 200,
                "description": "A service area relying parties declare" } } }
        ]
    });
    let cpr = json!({ "type": "string", "pattern": "^[0-9]{6}-?[0-9]{4}$" });
    let cvr = json!({ "type": "string", "pattern": "^(DK)?[1-9][0-9]{7}$" });
    let party = json!({
        "type": "object", "required": ["type", "name"],
        "properties": {
            "type": { "type": "string", "enum": ["person", "organisation"] },
            "name": { "type": "string" },
            "cvr": { "type": "string", "description": "Organisations only" }
        }
    });
    let scopes = json!({ "type": "array", "items": schema("Scope"), "maxItems": 20 });
    json!({
        "Error": {
            "type": "object", "required": ["error", "error_description"],
            "properties": {
                "error": { "type": "string", "description": "A stable code: invalid_request, invalid_token, insufficient_user_authentication, or the registry's reason (not_administrator, re_delegation, login_not_fresh, wrong_state, …)" },
                "error_description": { "type": "string", "description": "What went wrong and what to do next" }
            }
        },
        "Scope": scope,
        "Party": party,
        "Mandate": {
            "type": "object",
            "required": ["id", "kind", "state", "principal", "agent", "scopes", "privileges", "access", "administrator", "valid_from", "created_at", "revision"],
            "properties": {
                "id": { "type": "string", "format": "uuid" },
                "kind": { "type": "string", "enum": ["power_of_attorney", "business_right", "business_power"] },
                "state": { "type": "string", "enum": ["requested", "pending", "active", "declined", "revoked", "expired"] },
                "principal": schema("Party"),
                "agent": schema("Party"),
                "scopes": { "type": "array", "items": schema("Scope") },
                "privileges": { "type": "array", "items": { "type": "string", "format": "uri" } },
                "access": access,
                "administrator": { "type": "boolean" },
                "valid_from": time,
                "valid_until": { "type": ["string", "null"], "format": "date-time" },
                "created_at": time,
                "revision": { "type": "integer" }
            }
        },
        "MandateList": {
            "type": "object", "required": ["mandates"],
            "properties": { "mandates": { "type": "array", "items": schema("Mandate") } }
        },
        "MandateWithHistory": {
            "type": "object", "required": ["mandate", "history"],
            "properties": {
                "mandate": schema("Mandate"),
                "history": { "type": "array", "items": {
                    "type": "object", "required": ["revision", "state", "at"],
                    "properties": {
                        "revision": { "type": "integer" },
                        "state": { "type": "string" },
                        "by": { "type": ["string", "null"], "description": "Who made the change (none: the registry, at expiry)" },
                        "at": time
                    }
                } }
            }
        },
        "Pending": {
            "type": "object", "required": ["to_accept", "to_approve"],
            "properties": {
                "to_accept": { "type": "array", "items": schema("Mandate") },
                "to_approve": { "type": "array", "items": schema("Mandate") }
            }
        },
        "Draft": {
            "type": "object",
            "required": ["draft", "digest", "approves_request", "principal", "agent", "scopes", "access", "valid_from", "valid_until", "needs_acceptance", "prepared_at", "expires_at", "confirm"],
            "properties": {
                "draft": { "type": "string", "format": "uuid" },
                "digest": { "type": "string", "pattern": "^[0-9a-f]{64}$" },
                "approves_request": { "type": "boolean" },
                "principal": schema("Party"),
                "agent": schema("Party"),
                "scopes": { "type": "array", "items": schema("Scope") },
                "access": access,
                "valid_from": time,
                "valid_until": time,
                "needs_acceptance": { "type": "boolean" },
                "prepared_at": time,
                "expires_at": time,
                "confirm": schema("Confirmation")
            }
        },
        "Confirmation": {
            "type": "object", "required": ["draft", "digest"], "additionalProperties": false,
            "properties": {
                "draft": { "type": "string", "format": "uuid" },
                "digest": { "type": "string", "pattern": "^[0-9a-f]{64}$" }
            }
        },
        "GrantBody": {
            "type": "object", "required": ["agent", "scopes", "access", "valid_until"],
            "additionalProperties": false,
            "properties": {
                "agent": { "oneOf": [
                    { "type": "object", "required": ["cpr"], "additionalProperties": false, "properties": { "cpr": cpr } },
                    { "type": "object", "required": ["cvr"], "additionalProperties": false, "properties": { "cvr": cvr } }
                ] },
                "scopes": scopes,
                "access": access,
                "valid_from": time,
                "valid_until": time
            }
        },
        "RequestBody": {
            "type": "object", "required": ["principal", "scopes", "access", "valid_until"],
            "additionalProperties": false,
            "properties": {
                "principal": { "type": "object", "required": ["cpr"], "additionalProperties": false, "properties": { "cpr": cpr } },
                "scopes": scopes,
                "access": access,
                "valid_from": time,
                "valid_until": time
            }
        },
        "RightBody": {
            "type": "object", "required": ["employee", "access"], "additionalProperties": false,
            "properties": {
                "employee": { "type": "object", "required": ["cpr"], "additionalProperties": false, "properties": { "cpr": cpr } },
                "scopes": scopes,
                "privileges": { "type": "array", "items": { "type": "string", "format": "uri", "maxLength": 200 }, "maxItems": 20 },
                "access": access,
                "administrator": { "type": "boolean", "default": false },
                "valid_until": time
            }
        },
        "PowerBody": {
            "type": "object", "required": ["agent", "scopes", "access"], "additionalProperties": false,
            "properties": {
                "agent": { "type": "object", "required": ["cvr"], "additionalProperties": false, "properties": { "cvr": cvr } },
                "scopes": scopes,
                "access": access,
                "valid_until": time
            }
        },
        "OrganisationList": {
            "type": "object", "required": ["organisations"],
            "properties": { "organisations": { "type": "array", "items": {
                "type": "object", "required": ["cvr", "name"],
                "properties": { "cvr": { "type": "string" }, "name": { "type": "string" } }
            } } }
        },
        "OpenApi": { "type": "object" }
    })
}

/// The description.
pub fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let entry = paths
            .entry(r.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method] = operation(r.op, r.path);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Delegation registry API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Powers of attorney, business rights and business powers: the operations of the self-service portal, as JSON. Authenticate with an access token the broker issued to a client this API accepts (registered with public subject identifiers), after a login at the broker; changes that raise what a session may do need a login at Substantial or higher no older than a few minutes. A session acting on behalf of someone may change nothing."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "brokerAccessToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "An access token of the broker, checked by introspection (RFC 7662)"
                }
            },
            "schemas": schemas()
        }
    })
}
