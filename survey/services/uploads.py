"""Uploads waiting between an import's preview and its confirmation.

The preview stores nothing in the database; the file waits here, under a random
token, until the same staff session confirms it (then it is deleted) or an hour
has passed.  A frame holds phone numbers in clear, so the bytes are sealed
(encrypted and authenticated with the data keys) before they touch the disk.

A token is only ever a file name after it has matched :data:`TOKEN_PATTERN`, so
no path can be smuggled in through it, and a token of another user or session is
refused as if it did not exist.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from survey.services.errors import N_, ValidationError

LIFETIME_SECONDS = 3600
#: What :func:`secrets.token_urlsafe` (32 bytes) makes, and nothing else.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class PendingUpload:
    token: str
    kind: str  # which import ("frame", "units", "component:3" …)
    filename: str
    data: bytes
    #: the upload form's other values, replayed on confirmation
    fields: Mapping[str, str]


class UploadStore:
    """Pending uploads in ``folder``: ``<token>.bin`` (the bytes) and ``<token>.json``."""

    def __init__(
        self,
        folder: Path,
        clock: Callable[[], float] = time.time,
        *,
        seal: Callable[[bytes], bytes] = bytes,
        unseal: Callable[[bytes], bytes] = bytes,
    ) -> None:
        self.folder = folder
        self.clock = clock
        self.seal, self.unseal = seal, unseal

    def put(
        self, owner: str, kind: str, filename: str, data: bytes, fields: Mapping[str, str]
    ) -> str:
        self.purge()
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        (self.folder / f"{token}.bin").write_bytes(self.seal(data))
        meta = {
            "owner": owner,
            "kind": kind,
            "filename": filename,
            "fields": dict(fields),
            "created": self.clock(),
        }
        # The metadata last: a half-written upload has no metadata and is never read.
        (self.folder / f"{token}.json").write_text(json.dumps(meta), encoding="utf-8")
        return token

    def get(self, token: str, owner: str, kind: str) -> PendingUpload:
        """The upload ``owner`` left under ``token`` for ``kind``, if still fresh."""
        gone = ValidationError(N_("this upload has expired or is not yours; upload the file again"))
        if not TOKEN_PATTERN.fullmatch(token):
            raise gone
        try:
            meta = json.loads((self.folder / f"{token}.json").read_text(encoding="utf-8"))
            data = self.unseal((self.folder / f"{token}.bin").read_bytes())
        except (OSError, ValueError):
            raise gone from None
        if not hmac.compare_digest(str(meta.get("owner", "")), owner) or meta.get("kind") != kind:
            raise gone
        if self.clock() - float(meta.get("created", 0)) > LIFETIME_SECONDS:
            self.delete(token)
            raise gone
        return PendingUpload(
            token=token,
            kind=kind,
            filename=str(meta["filename"]),
            data=data,
            fields={str(k): str(v) for k, v in meta.get("fields", {}).items()},
        )

    def delete(self, token: str) -> None:
        if TOKEN_PATTERN.fullmatch(token):
            for suffix in (".json", ".bin"):
                (self.folder / f"{token}{suffix}").unlink(missing_ok=True)

    def purge(self) -> int:
        """Delete uploads older than the lifetime (and orphaned halves); how many."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        now = self.clock()
        for path in self.folder.iterdir():
            if path.stat().st_mtime < now - LIFETIME_SECONDS:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
