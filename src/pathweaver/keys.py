"""API keys: how they look, how they are hashed.

A key is ``sk_`` (a project key, Pathors' legacy kind) or ``dk_`` (a developer key that may
reach several projects) followed by 43 url-safe characters (256 random bits). Only the
SHA-256 of the whole key is stored: keys are high-entropy, so a slow password hash would
add cost per request and no security. Lookups are by hash; the final comparison uses
``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

KeyKind = Literal["sk", "dk"]
_SHAPE = re.compile(r"^(sk|dk)_[A-Za-z0-9_-]{43}$")


def generate(kind: KeyKind) -> str:
    return f"{kind}_{secrets.token_urlsafe(32)}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hint(key: str) -> str:
    """What may be shown of a key after creation: its kind and first four secret characters."""
    return key[:7] + "…"


def well_formed(key: str) -> bool:
    """Cheap shape check, so garbage is refused without touching the database."""
    return bool(_SHAPE.match(key))


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"
