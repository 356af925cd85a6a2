"""Headers a user may configure for an outbound request (a webhook's ``headers``).

A header is sent as the user wrote it, so its name and value must be ones HTTP/1.1 can
carry (a token; visible ASCII and inner spaces), and it may not take over how the request
is framed or routed: ``Content-Length``, ``Transfer-Encoding``, ``Host``, ``Connection`` and
the other hop-by-hop headers belong to the HTTP client, and the headers Pathweaver sets on
every delivery (``Content-Type``, ``User-Agent``, ``X-Pathweaver-*``) cannot be replaced.
Each rule's message says what to change.
"""

from __future__ import annotations

import re

MAX_NAME = 256
MAX_VALUE = 4096

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Visible ASCII, with single spaces or tabs only between visible characters.
_VALUE = re.compile(r"(?:[\x21-\x7e](?:[ \t]*[\x21-\x7e])*)?")

#: Framing and hop-by-hop headers: the HTTP client sets them from the request itself.
_FRAMING = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-encoding",
    }
)
#: Set by Pathweaver on every delivery (``lifecycle/delivery.py``).
_OURS = frozenset({"content-type", "user-agent"})
_OURS_PREFIX = "x-pathweaver-"


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a configured header's name, or None."""
    if not name:
        return "is empty; give the header a name such as X-Api-Key"
    if len(name) > MAX_NAME:
        return f"is {len(name)} characters long; a header name has at most {MAX_NAME}"
    if not _TOKEN.fullmatch(name):
        return (
            f"{_shown(name)} is not a header name HTTP can carry: use letters, digits and - "
            "(ASCII, no spaces or colons), e.g. X-Api-Key"
        )
    lowered = name.lower()
    if lowered in _FRAMING:
        return f"{name} is set by the HTTP client from the request itself and cannot be configured; remove it"
    if lowered in _OURS or lowered.startswith(_OURS_PREFIX):
        return f"{name} is set by Pathweaver on every delivery and cannot be replaced; remove it"
    return None


def value_problem(value: str) -> str | None:
    """Why ``value`` cannot be a configured header's value, or None."""
    if len(value) > MAX_VALUE:
        return f"is {len(value)} characters long; a header value has at most {MAX_VALUE}"
    if _VALUE.fullmatch(value):
        return None
    if not value.isascii():
        return "has characters outside ASCII, which HTTP headers cannot carry; encode them (e.g. percent-encoding)"
    if value != value.strip(" \t"):
        return "starts or ends with spaces; remove them"
    return "has a line break or another control character; remove it"


def problem(name: str, value: str) -> str | None:
    """Why the header ``name: value`` cannot be sent, or None (for a stored header, say)."""
    found = name_problem(name)
    if found is not None:
        return f"header name {found}"
    found = value_problem(value)
    return None if found is None else f"the value of header {name} {found}"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")
