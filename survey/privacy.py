"""Personal data: phone numbers encrypted at rest, keyed hashes for look-ups.

Keys come from the environment: ``MINYI_DATA_KEYS`` (comma-separated Fernet
keys; the first encrypts, all decrypt, so keys can be rotated) and
``MINYI_HASH_KEY`` (the HMAC key of the keyed hash).  In development and tests
they are generated once and kept in the instance folder.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import phonenumbers
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

from sampling.design.random_digits import keyed_number_hash
from survey.config import ConfigurationError


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number."""


@dataclass(frozen=True)
class PhoneNumber:
    """A normalised number: ``e164`` (+8613812345678) and the key used for hashing."""

    e164: str
    national: str
    region: str

    @property
    def hash_input(self) -> str:
        # Chinese mobiles hash as their 11 national digits, matching the
        # do-not-call exclusion of random-digit generation in ``sampling``.
        return self.national if self.region == "CN" else self.e164


def normalise_phone(raw: str, default_region: str = "CN") -> PhoneNumber:
    """Parse and validate a phone number typed in any common way."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("the phone number is missing")
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidPhoneNumber(f"{raw!r} is not a phone number ({error})") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(f"{raw!r} is not a valid phone number")
    region = phonenumbers.region_code_for_number(parsed) or default_region
    return PhoneNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        national=str(parsed.national_number),
        region=region,
    )


class Vault:
    """Encrypts, decrypts and hashes personal data with the configured keys."""

    def __init__(self, data_keys: list[bytes], hash_key: bytes) -> None:
        if not data_keys:
            raise ConfigurationError("no data encryption key configured")
        self._fernet = MultiFernet([Fernet(key) for key in data_keys])
        self._hash_key = hash_key

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ConfigurationError(
                "cannot decrypt personal data: the key that encrypted it is not in MINYI_DATA_KEYS"
            ) from None

    def decrypt_recent(self, token: str, seconds: int) -> str:
        """What :meth:`encrypt` made at most ``seconds`` ago; ``ValueError`` otherwise."""
        try:
            return self._fernet.decrypt(token.encode("ascii"), ttl=seconds).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise ValueError("not a recent token of these keys") from None

    def seal(self, data: bytes) -> bytes:
        """``data`` encrypted and authenticated (an upload waiting on disk)."""
        return self._fernet.encrypt(data)

    def unseal(self, sealed: bytes) -> bytes:
        """What :meth:`seal` sealed; ``ValueError`` if it was altered or the key is gone."""
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise ValueError("sealed data altered or its key removed") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` with the first (newest) key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")

    def phone_hash(self, number: PhoneNumber) -> str:
        return keyed_number_hash(number.hash_input, self._hash_key)

    @property
    def hash_key(self) -> bytes:
        return self._hash_key


def instance_secret(app: Flask, name: str, make: str) -> str:
    """A generated secret kept in the instance folder (development and tests only)."""
    path = Path(app.instance_path) / name
    if path.exists():
        return path.read_text().strip()
    os.makedirs(app.instance_path, exist_ok=True)
    path.write_text(make)
    return make


def init_app(app: Flask) -> None:
    data_keys = app.config.get("DATA_KEYS")
    hash_key = app.config.get("HASH_KEY")
    if not data_keys or not hash_key:
        if app.config["ENV_NAME"] not in ("development", "testing"):
            raise ConfigurationError(
                "MINYI_DATA_KEYS and MINYI_HASH_KEY must be set: they protect phone numbers. "
                "Generate with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            )
        data_keys = data_keys or instance_secret(
            app, "dev-data-key", Fernet.generate_key().decode()
        )
        hash_key = hash_key or instance_secret(app, "dev-hash-key", secrets.token_hex(32))
    keys = [k.strip().encode() for k in str(data_keys).split(",") if k.strip()]
    app.extensions["minyi_vault"] = Vault(keys, str(hash_key).encode())


def vault() -> Vault:
    result: Vault = current_app.extensions["minyi_vault"]
    return result
