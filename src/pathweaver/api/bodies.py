"""JSON request bodies: the rules every one obeys before a route reads it.

Whatever a route does with its body (stores it, runs a turn with it, keeps part of it in
a session), the body as a whole must be JSON that can be stored and read back
(``pathweaver.jsonvalues``): at most ``MAX_DEPTH`` levels of nesting, and no lone
surrogate in any string or key. One app-wide dependency checks it (:func:`checked_json`),
after FastAPI has parsed the body and before the route's own dependencies run, and
answers 400 in the route's error style, naming the place (``messages[0].content``).
``runtime.DirectChat`` uses :func:`problem` and hands such bodies to the route, so its
answers are the route's.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from pathweaver import jsonvalues
from pathweaver.errors import UserError

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this type as JSON (``application/json``, ``+json``)."""
    if content_type is None:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def problem(raw: bytes, parsed: Any) -> jsonvalues.Problem | None:
    """What breaks the rules in a body (``raw``, and its JSON ``parsed``), or None."""
    texts = jsonvalues.may_hold_surrogate(raw)
    if not texts and not jsonvalues.may_be_too_deep(raw):
        return None
    return jsonvalues.problem(parsed, texts=texts)


def refusal(found: jsonvalues.Problem) -> UserError:
    field = found.path or None
    return UserError(
        found.describe(),
        details={"param": field, "errors": [{"field": field or "body", "message": found.message}]},
    )


async def checked_json(request: Request) -> None:
    """An app-wide dependency: 400 for a JSON body that breaks the rules."""
    if request.method not in _BODY_METHODS or not is_json(request.headers.get("content-type")):
        return
    raw = await request.body()
    if not raw or not jsonvalues.may_have_problem(raw):
        return
    try:
        parsed = await request.json()
    except (ValueError, RecursionError):
        return  # not JSON: the route says so, or does not read its body
    found = problem(raw, parsed)
    if found is not None:
        raise refusal(found)


def parsed_if_clean(raw: bytes) -> Any:
    """``raw`` parsed, when it is JSON that obeys the rules; raises ``ValueError`` otherwise."""
    parsed = json.loads(raw)
    if problem(raw, parsed) is not None:
        raise ValueError("the body breaks a rule of pathweaver.jsonvalues")
    return parsed
