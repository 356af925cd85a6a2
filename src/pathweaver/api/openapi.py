"""The OpenAPI document, said the way the API answers.

FastAPI writes what it can see in the routes. Two things it cannot see are filled in here,
once, when the document is first asked for:

* **Errors.** Every route answers 400, 401, 403, 404, 408, 409, 413 and 429 in its documented
  error shape (``api/errors.py``), and routes that run a turn also 502, 503 and 504 from
  the model; FastAPI documents instead a 422 ``HTTPValidationError`` that the API never
  sends (validation errors are 400). The 422 goes, the real answers are declared, each with
  a body that has an ``error`` member (a string in Pathors' flat shape, an object in
  OpenAI's and the v1 envelope).
* **Streams.** Chat completions answer ``text/event-stream`` when ``stream`` is true.

What a success looks like is declared on each route with :func:`answers`, from a pydantic
model kept beside the code that builds that JSON. The models document; they do not
validate on the way out (handlers build their answers themselves, so no answer pays for a
second pass through pydantic). What keeps the two in step is schemathesis'
``response_schema_conformance`` check (``tests/hardening/test_schema.py``): every answer the
fuzzing gets must match the declared schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "description": "A message (Pathors' session routes) or an object with message, type and code",
            "anyOf": [{"type": "string"}, {"type": "object"}],
        }
    },
}

#: One event of a streamed chat completion: a ``chat.completion.chunk`` object, an error
#: object, or the final ``[DONE]``.
STREAM_EVENT: dict[str, Any] = {
    "description": "chat.completion.chunk events (JSON), then the text [DONE]",
    "anyOf": [{"type": "object"}, {"type": "string"}],
}

COMMON_ERRORS = {
    "400": "Invalid request: the message says what to fix",
    "401": "Missing, unknown or revoked key",
    "403": "A valid key that does not reach the project in the path",
    "404": "Not found",
    "408": "The request body stalled (PATHWEAVER_BODY_READ_TIMEOUT)",
    "409": "Conflicts with stored state (a busy or ended session, a duplicate id); may carry Retry-After",
    "413": "Request body or one of its parts over a limit",
    "429": "Rate limit; Retry-After says when to try again",
}
TURN_ERRORS = {
    "500": "The turn could not complete (a step or model-call cap, a pathway error)",
    "502": "The model upstream failed or is misconfigured (the message names the setting)",
    "503": "The embedded model's queue is full; retry",
    "504": "The model upstream timed out",
}
#: Operations that run a turn, by the end of their path.
TURN_PATHS = ("/chat/completions", "/messages")


def answers(
    model: type[BaseModel], status: int = 200, description: str | None = None
) -> dict[int | str, Any]:
    """``responses=`` for a route whose success (``status``) body has ``model``'s shape.

    Documentation only (see the module docstring): pass it as ``add_api_route(...,
    responses=answers(Model))``; a route that answers 201 or 202 passes the same ``status``
    as its ``status_code``.
    """
    declared: dict[str, Any] = {"model": model}
    if description:
        declared["description"] = description
    return {status: declared}


def install(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, then cached)."""

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(schema)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the errors and streams (see the module docstring) in ``schema``, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("422", None)
            errors = dict(COMMON_ERRORS)
            if path.endswith(TURN_PATHS) and method == "post":
                errors.update(TURN_ERRORS)
            for status, description in errors.items():
                responses.setdefault(status, {"description": description, "content": error_body})
            if path.endswith("/chat/completions") and method == "post":
                ok = responses.setdefault("200", {"description": "Successful Response"})
                ok.setdefault("content", {}).setdefault("text/event-stream", {"schema": STREAM_EVENT})
    if not any(
        "422" in op.get("responses", {})
        for item in schema.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict)
    ):
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
    return schema
