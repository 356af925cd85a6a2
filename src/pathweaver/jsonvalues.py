"""Free JSON values that users send or store: what every one of them must be.

Sessions variables, unknown fields of pathway nodes, tool schemas, test-case variables,
the agent's free objects... are kept as sent and read back later (by a turn, a read, an
export). Two things in such a value would break those later reads, so they are refused
when it comes in:

* **nesting** deeper than :data:`MAX_DEPTH` levels of objects and arrays (serialisers give
  up at a few hundred levels: a stored value that deep made every read of it fail);
* **text that UTF-8 cannot carry**: a lone surrogate such as ``"\\ud800"``, which JSON's
  ``\\u`` escapes can spell and Python's parser accepts, but which no database, response or
  log line can encode.

:func:`problem` finds the first such place in a parsed value and names it with a path
(``messages[0].content``); :func:`may_be_too_deep` and :func:`may_hold_surrogate` are
byte-level pre-checks that rule out nearly every body without walking it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Levels of objects and arrays a JSON value may nest, counted from the request body itself
#: (``{"variables": {"a": 1}}`` is 2 levels deep).
MAX_DEPTH = 32

#: A surrogate as JSON text can spell it: a ``\\u`` escape (half of a pair, or a lone one),
#: or its UTF-8-like bytes (Python's parser reads bytes with ``surrogatepass``).
#: A NUL (``\\u0000``) is looked for the same way: PostgreSQL cannot store it in text or JSON.
_ESCAPED_SURROGATE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
_ENCODED_SURROGATE = re.compile(b"\xed[\xa0-\xbf]")
#: Path segments shown before the rest of a long path is elided.
_SHOWN_SEGMENTS = 6


@dataclass(frozen=True, slots=True)
class Problem:
    """Where a value breaks a rule (``path``, empty for the value itself) and how to fix it."""

    path: str
    message: str

    def describe(self, what: str = "the request body") -> str:
        """One line for people: the path (or ``what``, for the value itself), then the fix."""
        if not self.path:
            return f"{what} {self.message}"
        return f"{'body' if self.path.startswith('[') else ''}{self.path}: {self.message}"


def may_be_too_deep(raw: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """False when the JSON text ``raw`` has too few brackets to nest past ``max_depth``."""
    return raw.count(b"{") + raw.count(b"[") > max_depth


def may_hold_surrogate(raw: bytes) -> bool:
    """False when the JSON text ``raw`` cannot spell a surrogate."""
    # The plain ``in`` tests first: a regular expression without a literal start scans slowly.
    if b"\\" in raw and _ESCAPED_SURROGATE.search(raw):
        return True
    if b"\xed" in raw and _ENCODED_SURROGATE.search(raw):
        return True
    return b"\x00" in raw  # UTF-16 or UTF-32 text, whose surrogates are spelled otherwise


def may_have_problem(raw: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """False when the JSON text ``raw`` cannot hold a problem: its value need not be walked."""
    return may_be_too_deep(raw, max_depth) or may_hold_surrogate(raw)


def problem(value: Any, max_depth: int = MAX_DEPTH, *, texts: bool = True) -> Problem | None:
    """The first place in ``value`` (parsed JSON) that breaks a rule, or None.

    ``texts=False`` checks the nesting alone (the text is known to hold no surrogate), level
    by level without looking at strings: a few microseconds for a long conversation.
    """
    if not texts and _depth_within(value, max_depth):
        return None
    return _walk(value, max_depth)


def _depth_within(value: Any, max_depth: int) -> bool:
    level = [value] if type(value) in _CONTAINERS else []
    for _ in range(max_depth):
        if not level:
            return True
        deeper: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            deeper.extend([child for child in children if type(child) in _CONTAINERS])
        level = deeper
    return not level


#: What JSON parses objects and arrays into (exact types: a walk is on the hot path).
_CONTAINERS = (dict, list)


def _walk(value: Any, max_depth: int) -> Problem | None:
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return Problem(_dotted(path), _message(item))
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return Problem(
                _dotted(path),
                f"nests more than {max_depth} levels of objects and arrays; flatten it "
                f"(a JSON body may nest at most {max_depth} levels)",
            )
        if isinstance(item, list):
            stack.extend((child, depth + 1, (*path, index)) for index, child in enumerate(item))
            continue
        for key, child in item.items():
            if not _encodable(key):
                return Problem(_dotted((*path, _printable(key))), "this key " + _message(key))
            stack.append((child, depth + 1, (*path, key)))
    return None


def clipped(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """``value`` itself when it nests at most ``max_depth`` levels; otherwise a copy whose
    parts past that depth read :data:`CLIPPED` (for values stored before the limit existed:
    a read shows the rest instead of failing)."""
    if _depth_within(value, max_depth):
        return value
    return _clip(value, max_depth)


#: What a part of a stored value past the depth limit reads as.
CLIPPED = f"(nested more than {MAX_DEPTH} levels: not shown)"


def _clip(value: Any, levels_left: int) -> Any:
    if not isinstance(value, dict | list):
        return value
    if levels_left <= 0:
        return CLIPPED
    if isinstance(value, dict):
        return {key: _clip(child, levels_left - 1) for key, child in value.items()}
    return [_clip(child, levels_left - 1) for child in value]


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None (for a single string field)."""
    return None if _encodable(text) else _message(text)


_SURROGATE_MESSAGE = (
    "contains a lone UTF-16 surrogate (a \\ud800-\\udfff escape without its pair), which is not "
    "valid Unicode; send the text as UTF-8, or escape a character beyond U+FFFF as a full pair"
)


_NUL_MESSAGE = (
    "contains a NUL character (\\u0000), which cannot be stored (PostgreSQL refuses it in text); remove it"
)


def _message(text: str) -> str:
    return _NUL_MESSAGE if "\x00" in text else _SURROGATE_MESSAGE


def _encodable(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def _dotted(path: tuple[str | int, ...]) -> str:
    """``("messages", 0, "content")`` as ``messages[0].content`` (a long path elided)."""
    out = ""
    for count, part in enumerate(path):
        if count == _SHOWN_SEGMENTS:
            return out + f"... ({len(path) - count} levels more)"
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_printable(part)}" if out else _printable(part)
    return out
