"""A SAML service provider built on pysaml2 (code we did not write), driven step by step by
tests/flows/saml_pysaml2.rs. Strict settings: signed AuthnRequests, signed assertions required,
unsolicited responses refused, assertions encrypted to its own key.

    sp.py setup DIR ENTITY_ID ACS     keys, certificates and DIR/sp-metadata.xml
    sp.py authn DIR                   a signed Redirect AuthnRequest: prints {"url", "id"}
    sp.py authn-post DIR              a signed (enveloped) POST AuthnRequest: prints {"action", "saml_request", "id"}
    sp.py acs DIR RESPONSE_FILE       verifies a POSTed SAMLResponse: prints what it says as JSON

DIR/idp-metadata.xml (the broker's /saml/metadata) must exist before `authn`.
"""
import base64
import json
import os
import subprocess
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT
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
                },
                "authn_requests_signed": True,
                "want_assertions_signed": True,
                "want_response_signed": False,
                "want_assertions_or_response_signed": True,
                "allow_unsolicited": False,
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "signing_algorithm": SIG_RSA_SHA256,
                "digest_algorithm": DIGEST_SHA256,
            },
        },
    }
    if with_idp:
        settings["metadata"] = {"local": [os.path.join(directory, "idp-metadata.xml")]}
    conf = SPConfig()
    conf.load(settings)
    return conf


def setup(directory, entity_id, acs):
    with open(os.path.join(directory, "sp.json"), "w") as f:
        json.dump({"entity_id": entity_id, "acs": acs}, f)
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
    client = Saml2Client(config(directory, with_idp=True))
    with open(outstanding_file(directory)) as f:
        outstanding = json.load(f)
    with open(response_file) as f:
        saml_response = f.read().strip()
    response = client.parse_authn_request_response(
        saml_response, BINDING_HTTP_POST, outstanding=outstanding)
    if response is None:
        raise SystemExit("pysaml2 returned no response")
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


if __name__ == "__main__":
    command, directory = sys.argv[1], sys.argv[2]
    if command == "setup":
        setup(directory, sys.argv[3], sys.argv[4])
    elif command == "authn":
        authn(directory)
    elif command == "authn-post":
        authn_post(directory)
    elif command == "acs":
        acs(directory, sys.argv[3])
    else:
        raise SystemExit("unknown command " + command)
