"""Errors to HTTP, in one place.

Three documented error shapes, chosen per route (``openapi_extra["x-error-style"]``):

* ``openai`` (chat completions, models): ``{"error": {"message", "type", "param", "code"}}``,
  so the official ``openai`` clients raise their typed exceptions;
* ``flat`` (the session routes, as Pathors documents them): ``{"error": "<message>"}``,
  except 401, which is ``{"error": {"message": "Invalid authentication", ...}}``;
* ``v1`` (management routes): ``{"error": {"message", "type", "code", "details"}}``.

Request validation errors become 400 with a message that names the field.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pathweaver.errors import AuthError, PathweaverError, UserError

log = logging.getLogger("pathweaver.api")

#: Fields whose every validation error reads "<field> is required" (Pathors' wording).
REQUIRED_WORDING = frozenset({"session_id", "search_string"})


def error_style(request: Request) -> str:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    return str(extra.get("x-error-style", "v1"))


def error_body(style: str, exc: PathweaverError) -> dict[str, Any]:
    if style == "flat" and not isinstance(exc, AuthError):
        return {"error": exc.message}
    body: dict[str, Any] = {"message": exc.message, "type": exc.type, "code": exc.code}
    if style == "openai":
        body["param"] = exc.details.get("param")
    else:
        body["details"] = exc.details
    return {"error": body}


def error_response(request: Request, exc: PathweaverError) -> JSONResponse:
    headers: dict[str, str] = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    return JSONResponse(error_body(error_style(request), exc), status_code=exc.status, headers=headers)


def describe_validation(errors: Sequence[Any]) -> tuple[str, str | None]:
    """A one-line message for the first validation error, and the field it names."""
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    field = ".".join(loc) if loc else None
    kind = first.get("type", "")
    if kind == "json_invalid":
        return "the request body is not valid JSON", None
    if not loc and kind != "value_error":
        return "the request body must be a JSON object", None
    if len(loc) == 1 and loc[0] in REQUIRED_WORDING:
        return f"{loc[0]} is required", field
    if kind == "missing":
        return f"{field} is required", field
    message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
    return (f"{field}: {message}" if field else message), field


async def on_pathweaver_error(request: Request, exc: PathweaverError) -> JSONResponse:
    """The answer to an error the request ran into (also ``runtime.DirectChat``'s)."""
    if exc.status >= 500:
        log.warning("request failed: %s: %s", type(exc).__name__, exc.message)
    return error_response(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(PathweaverError, on_pathweaver_error)  # type: ignore[arg-type]

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = describe_validation(exc.errors())
        content_type = request.headers.get("content-type")
        if field is None and content_type and "json" not in content_type.lower():
            # curl's -d, say, sends form encoding: FastAPI then never reads the body as JSON.
            message += (
                f"; send it as JSON with Content-Type: application/json (this one: {content_type[:60]})"
            )
        return error_response(request, UserError(message, details={"param": field} if field else {}))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = PathweaverError(str(exc.detail))
        error.status = exc.status_code
        error.type = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        if exc.status_code == 413:
            error.code = "request_too_large"
        elif exc.status_code == 408:
            error.code = "request_timeout"
        return JSONResponse(
            error_body(error_style(request), error), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = error_response(request, PathweaverError("internal error; it has been logged"))
        # Starlette raises the exception again once this answer is sent, and the server then
        # drops the connection: say so, or a client's next request on it is reset.
        response.headers["Connection"] = "close"
        return response
