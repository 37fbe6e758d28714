"""A SAML service provider built on pysaml2 (code we did not write), driven step by step by
tests/flows/saml_pysaml2.rs. Strict settings: signed AuthnRequests, signed assertions required,
unsolicited responses refused, assertions encrypted to its own key, signed logout requests and
responses. Its single logout service has the HTTP-Redirect binding only (no SOAP), so the broker
reaches it through the browser.

    sp.py setup DIR ENTITY_ID ACS SLO keys, certificates and DIR/sp-metadata.xml
    sp.py authn DIR                   a signed Redirect AuthnRequest: prints {"url", "id"}
    sp.py authn-post DIR              a signed (enveloped) POST AuthnRequest: prints {"action", "saml_request", "id"}
    sp.py acs DIR RESPONSE_FILE       verifies a POSTed SAMLResponse: prints what it says as JSON
    sp.py logout DIR                  a signed Redirect LogoutRequest for the person of the last
                                      Response (its NameID and SessionIndex): prints {"url", "id"}
    sp.py logout-response DIR URL     verifies the IdP's Redirect LogoutResponse (its query
                                      signature with the IdP's metadata key, then pysaml2's checks
                                      against the outstanding logout): prints what it says
    sp.py slo DIR URL                 verifies the IdP's Redirect LogoutRequest (signature, NameID),
                                      logs the person out: prints {"url"} of its signed answer

DIR/idp-metadata.xml (the broker's /saml/metadata) must exist before `authn`. What pysaml2 keeps
between steps (the persons it logged in, its outstanding logouts) is in DIR.
"""
import base64
import json
import os
import shelve
import subprocess
import sys
from urllib.parse import parse_qsl, urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.ident import code, decode
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
from saml2.sigver import verify_redirect_signature
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256


def keypair(directory, name):
    key = os.path.join(directory, name + ".key")
    cert = os.path.join(directory, name + ".crt")
    if not os.path.exists(key):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "2",
             "-subj", "/CN=pysaml2 test sp " + name, "-keyout", key, "-out", cert],
            check=True, capture_output=True)
    return key, cert


def config(directory, with_idp):
    with open(os.path.join(directory, "sp.json")) as f:
        names = json.load(f)
    sign_key, sign_cert = keypair(directory, "sign")
    enc_key, enc_cert = keypair(directory, "enc")
    settings = {
        "entityid": names["entity_id"],
        "key_file": sign_key,
        "cert_file": sign_cert,
        "encryption_keypairs": [{"key_file": enc_key, "cert_file": enc_cert}],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "accepted_time_diff": 30,
        "service": {
            "sp": {
                "endpoints": {
                    "assertion_consumer_service": [(names["acs"], BINDING_HTTP_POST)],
                    "single_logout_service": [(names["slo"], BINDING_HTTP_REDIRECT)],
                },
                "authn_requests_signed": True,
                "logout_requests_signed": True,
                "logout_responses_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "want_assertions_or_response_signed": True,
                "allow_unsolicited": False,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            },
        },
        # pysaml2 prefers SOAP for logout; this service speaks to the IdP through the browser.
        "preferred_binding": {"single_logout_service": [BINDING_HTTP_REDIRECT]},
    }
    if with_idp:
        settings["metadata"] = {"local": [os.path.join(directory, "idp-metadata.xml")]}
    conf = SPConfig()
    conf.load(settings)
    return conf


def setup(directory, entity_id, acs, slo):
    with open(os.path.join(directory, "sp.json"), "w") as f:
        json.dump({"entity_id": entity_id, "acs": acs, "slo": slo}, f)
    conf = config(directory, with_idp=False)
    with open(os.path.join(directory, "sp-metadata.xml"), "wb") as f:
        f.write(create_metadata_string(None, config=conf, valid=2))


def outstanding_file(directory):
    return os.path.join(directory, "outstanding.json")


def remember(directory, request_id):
    """Keeps the request ID: pysaml2 accepts only answers to outstanding requests."""
    try:
        with open(outstanding_file(directory)) as f:
            outstanding = json.load(f)
    except FileNotFoundError:
        outstanding = {}
    outstanding[request_id] = "/"
    with open(outstanding_file(directory), "w") as f:
        json.dump(outstanding, f)


class Sp:
    """The service with what it keeps between steps: the persons it logged in (pysaml2's
    identity cache) and its outstanding logouts (pysaml2's state), in DIR."""

    def __init__(self, directory):
        self.directory = directory
        self.state = shelve.open(os.path.join(directory, "state.db"), writeback=True)
        self.client = Saml2Client(
            config(directory, with_idp=True),
            identity_cache=os.path.join(directory, "identities.db"),
            state_cache=self.state)

    def __enter__(self):
        return self.client

    def __exit__(self, *_):
        self.state.close()


def idp_of(client):
    return next(iter(client.metadata.identity_providers()))


def name_id_file(directory):
    return os.path.join(directory, "name_id")


def redirect_params(client, url, message):
    """The Redirect-binding parameters of URL, after pysaml2 verified their detached signature
    with the IdP's metadata signing keys (pysaml2's parse_logout_* read only the XML)."""
    params = dict(parse_qsl(urlsplit(url).query))
    if message not in params or "Signature" not in params or "SigAlg" not in params:
        raise SystemExit("not a signed Redirect-binding " + message)
    signed = {k: params[k] for k in (message, "RelayState", "SigAlg", "Signature") if k in params}
    certs = client.metadata.certs(idp_of(client), "idpsso", "signing")
    if not any(verify_redirect_signature(signed, client.sec.sec_backend, cert)
               for _, cert in certs):
        raise SystemExit("the " + message + " signature does not verify with the IdP's keys")
    return params


def authn(directory):
    client = Saml2Client(config(directory, with_idp=True))
    idp = next(iter(client.metadata.identity_providers()))
    request_id, info = client.prepare_for_authenticate(
        entityid=idp,
        binding=BINDING_HTTP_REDIRECT,
        relay_state="pysaml2-relay",
        sign=True,
        sigalg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    url = dict(info["headers"])["Location"]
    remember(directory, request_id)
    print(json.dumps({"url": url, "id": request_id}))


def authn_post(directory):
    client = Saml2Client(config(directory, with_idp=True))
    idp = next(iter(client.metadata.identity_providers()))
    destination = client.sso_location(idp, BINDING_HTTP_POST)
    request_id, request = client.create_authn_request(
        destination,
        binding=BINDING_HTTP_POST,
        sign=True,
        sign_alg=SIG_RSA_SHA256,
        digest_alg=DIGEST_SHA256,
    )
    remember(directory, request_id)
    print(json.dumps({
        "action": destination,
        "saml_request": base64.b64encode(str(request).encode()).decode(),
        "id": request_id,
    }))


def acs(directory, response_file):
    with open(outstanding_file(directory)) as f:
        outstanding = json.load(f)
    with open(response_file) as f:
        saml_response = f.read().strip()
    with Sp(directory) as client:
        response = client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding=outstanding)
    if response is None:
        raise SystemExit("pysaml2 returned no response")
    with open(name_id_file(directory), "w") as f:
        f.write(code(response.name_id))
    assertion = response.assertion
    attributes = {}
    for statement in assertion.attribute_statement:
        for attribute in statement.attribute:
            attributes[attribute.name] = [v.text for v in attribute.attribute_value]
    name_id = response.name_id
    statement = assertion.authn_statement[0]
    print(json.dumps({
        "in_response_to": response.in_response_to,
        "issuer": response.issuer(),
        "name_id": name_id.text,
        "name_id_format": name_id.format,
        "session_index": statement.session_index,
        "authn_context": statement.authn_context.authn_context_class_ref.text
        if statement.authn_context.authn_context_class_ref is not None else None,
        "assertion_was_encrypted": response.encrypted_assertion_used
        if hasattr(response, "encrypted_assertion_used") else None,
        "attributes": attributes,
    }))


def logout(directory):
    with open(name_id_file(directory)) as f:
        name_id = decode(f.read())
    with Sp(directory) as client:
        before = set(client.state.keys())
        responses = client.global_logout(
            name_id, sign=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256)
        binding, info = responses[idp_of(client)]
        if binding != BINDING_HTTP_REDIRECT:
            raise SystemExit("pysaml2 chose " + binding)
        (request_id,) = set(client.state.keys()) - before
    print(json.dumps({"url": dict(info["headers"])["Location"], "id": request_id}))


def logout_response(directory, url):
    with Sp(directory) as client:
        params = redirect_params(client, url, "SAMLResponse")
        response = client.parse_logout_request_response(
            params["SAMLResponse"], BINDING_HTTP_REDIRECT)
        if response is None:
            raise SystemExit("pysaml2 returned no response")
        status = response.response.status.status_code
        second = status.status_code.value if status.status_code is not None else None
        # The outstanding logout it answers ends the local session (KeyError if none).
        client.handle_logout_response(response)
        with open(name_id_file(directory)) as f:
            logged_in = client.is_logged_in(decode(f.read()))
    print(json.dumps({
        "in_response_to": response.response.in_response_to,
        "issuer": response.response.issuer.text,
        "destination": response.response.destination,
        "status": status.value,
        "second_status": second,
        "relay_state": params.get("RelayState"),
        "logged_in": logged_in,
    }))


def slo(directory, url):
    with open(name_id_file(directory)) as f:
        name_id = decode(f.read())
    with Sp(directory) as client:
        params = redirect_params(client, url, "SAMLRequest")
        info = client.handle_logout_request(
            params["SAMLRequest"], name_id, BINDING_HTTP_REDIRECT, sign=True,
            sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
            relay_state=params.get("RelayState"), sigalg=params["SigAlg"],
            signature=params["Signature"])
        logged_in = client.is_logged_in(name_id)
    print(json.dumps({"url": dict(info["headers"])["Location"], "logged_in": logged_in}))


if __name__ == "__main__":
    command, directory = sys.argv[1], sys.argv[2]
    if command == "setup":
        setup(directory, sys.argv[3], sys.argv[4], sys.argv[5])
    elif command == "authn":
        authn(directory)
    elif command == "authn-post":
        authn_post(directory)
    elif command == "acs":
        acs(directory, sys.argv[3])
    elif command == "logout":
        logout(directory)
    elif command == "logout-response":
        logout_response(directory, sys.argv[3])
    elif command == "slo":
        slo(directory, sys.argv[3])
    else:
        raise SystemExit("unknown command " + command)
