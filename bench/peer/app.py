"""Python peer of osohost's signing-path benchmark.

A Flask application that does per request what the Python framework osohost
replaces does for a backend whose plugin signs every document: NGINX has
terminated TLS and verified the client certificate; the application reads
the forwarded verification result and certificate (X-SSL-CLIENT-VERIFY,
X-SSL-CERT), computes the certificate key's SHA256 OpenSSH fingerprint,
checks it against the allowlist "component", validates the body with
pydantic models of the V1_3 schema, signs the content of every document
with Ed25519 (python3-cryptography) and answers the DocumentList as JSON,
each document's metadata replaced by

    {"key_id": "<id>", "signature": "<hex>", "algorithm": "ED25519"}

exactly as examples/signer writes it, so that the load generator checks
both servers' answers the same way.

Environment (set by the benchmark suite, cmd/osobench):
    PEER_ALLOWLIST   JSON object, allowlist name -> ["SHA256:<base64>", ...]
    PEER_KEY_FILE    PKCS#8 PEM of the Ed25519 private key
    PEER_KEY_ID      the key's id (its public key is in the suite's keystore)
    PEER_MODE        component mode in the routes, default "backend"
"""

import base64
import hashlib
import json
import logging
import os
import sys
from typing import List, Optional
from urllib.parse import unquote

import pydantic
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask, Response, request

MODE = os.environ.get("PEER_MODE", "backend")
PREFIX = "/api/%s/v1alpha1" % MODE
KEY_ID = os.environ["PEER_KEY_ID"]
with open(os.environ["PEER_KEY_FILE"], "rb") as f:
    KEY = serialization.load_pem_private_key(f.read(), password=None)


def _digest(entry):
    if not entry.startswith("SHA256:"):
        raise TypeError("allowlist entry %r is not SHA256:<base64>" % entry)
    b = entry[len("SHA256:"):]
    return base64.b64decode(b + "=" * (-len(b) % 4))


ALLOWLISTS = {
    name: {_digest(e) for e in entries}
    for name, entries in json.loads(os.environ["PEER_ALLOWLIST"]).items()
}

PYDANTIC_V2 = pydantic.VERSION.startswith("2")


class Document(pydantic.BaseModel):
    id: str
    content: str
    metadata: Optional[str] = None

    if PYDANTIC_V2:

        @pydantic.field_validator("metadata", mode="before")
        @classmethod
        def _metadata(cls, v):
            return json.dumps(v) if isinstance(v, dict) else v

    else:

        @pydantic.validator("metadata", pre=True)
        def _metadata(cls, v):
            return json.dumps(v) if isinstance(v, dict) else v


class DocumentList(pydantic.BaseModel):
    documents: List[Document] = []
    count: int


def _parse(data):
    if PYDANTIC_V2:
        return DocumentList.model_validate(data)
    return DocumentList.parse_obj(data)


def _dump(model):
    if PYDANTIC_V2:
        return model.model_dump()
    return model.dict()


app = Flask(__name__)
log = logging.getLogger("oso.framework.plugin")
log.addHandler(logging.StreamHandler(sys.stderr))
log.setLevel(logging.INFO)

HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none';",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
}

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


def _answer(obj, status=200):
    return Response(json.dumps(obj), status=status, mimetype="application/json", headers=HEADERS)


def _error(code, description):
    return _answer({"code": code, "name": REASONS[code], "description": description}, code)


def fingerprint(escaped_pem):
    """SHA-256 of the OpenSSH wire encoding of the certificate's key."""
    cert = x509.load_pem_x509_certificate(unquote(escaped_pem).encode())
    blob = cert.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return hashlib.sha256(base64.b64decode(blob.split()[1])).digest()


@app.before_request
def authenticate():
    if request.headers.get("X-SSL-CLIENT-VERIFY") != "SUCCESS":
        return _error(401, "client certificate required")
    cert = request.headers.get("X-SSL-CERT")
    try:
        fp = fingerprint(cert) if cert else None
    except ValueError:
        fp = None
    if fp is None or fp not in ALLOWLISTS.get("component", ()):
        return _error(403, "client not allowed")
    return None


@app.after_request
def log_request(resp):
    log.info(json.dumps({"event": "[%d] %s" % (resp.status_code, request.path), "logger": "oso.framework.plugin"}))
    return resp


@app.route(PREFIX + "/status", methods=["GET"])
def status():
    return _answer({"status_code": 200, "status": "OK", "errors": []})


@app.route(PREFIX + "/documents", methods=["POST"])
def to_isv():
    try:
        docs = _parse(request.get_json(force=True))
    except (pydantic.ValidationError, ValueError, TypeError) as e:
        return _error(400, "invalid DocumentList: %s" % e.__class__.__name__)
    out = []
    for d in docs.documents:
        sig = KEY.sign(d.content.encode())
        meta = json.dumps({"key_id": KEY_ID, "signature": sig.hex(), "algorithm": "ED25519"})
        out.append(Document(id=d.id, content=d.content, metadata=meta))
    return _answer(_dump(DocumentList(documents=out, count=len(out))))
