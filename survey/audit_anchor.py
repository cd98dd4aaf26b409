"""The audit checkpoints' signing key and anchor file, from the environment.

``MINYI_AUDIT_SIGNING_KEY``: the Ed25519 private key (64 hex digits) that signs
checkpoints of the audit chain (:mod:`survey.services.checkpoints`).  It must not be
readable with the database's credentials: whoever can write the database should not
be able to sign.  ``MINYI_AUDIT_TRUSTED_KEYS``: public keys (hex, comma-separated) of
earlier signing keys, after a rotation.  ``MINYI_AUDIT_ANCHOR_FILE``: where every
checkpoint is appended outside the database (default
``instance/audit-anchors-<database>.jsonl``, one file per database: the demo, a benchmark
and a test database sharing an instance folder never mix their anchors).
In development and tests the key is generated once and kept in the instance folder.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from survey.config import ConfigurationError
from survey.privacy import instance_secret
from survey.services.checkpoints import Signer

_HEX_KEY = "64 hex digits (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"


def _key_bytes(value: str, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value.strip())
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(f"{name} must be {_HEX_KEY}")
    return raw


def default_anchor_file(app: Flask) -> Path:
    """The instance folder's anchor file of this app's database (named by its URL's hash)."""
    url = sa.make_url(str(app.config["DATABASE_URL"])).render_as_string(hide_password=True)
    return (
        Path(app.instance_path)
        / f"audit-anchors-{hashlib.sha256(url.encode()).hexdigest()[:12]}.jsonl"
    )


def init_app(app: Flask) -> None:
    text = str(app.config.get("AUDIT_SIGNING_KEY") or "")
    if not text:
        if app.config["ENV_NAME"] not in ("development", "testing"):
            raise ConfigurationError(
                "MINYI_AUDIT_SIGNING_KEY must be set: it signs the audit log's checkpoints. "
                f"It is {_HEX_KEY}; keep it where the database's users cannot read it."
            )
        text = instance_secret(app, "dev-audit-signing-key", secrets.token_hex(32))
    key = Ed25519PrivateKey.from_private_bytes(_key_bytes(text, "MINYI_AUDIT_SIGNING_KEY"))
    earlier = tuple(
        _key_bytes(part, "each of MINYI_AUDIT_TRUSTED_KEYS").hex()
        for part in str(app.config.get("AUDIT_TRUSTED_KEYS") or "").split(",")
        if part.strip()
    )
    configured = str(app.config.get("AUDIT_ANCHOR_FILE") or "")
    anchor = Path(configured) if configured else default_anchor_file(app)
    anchor.parent.mkdir(parents=True, exist_ok=True)
    app.extensions["minyi_audit_signer"] = Signer(
        key=key, anchor_file=anchor, earlier_public_keys=earlier
    )
