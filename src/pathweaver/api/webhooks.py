"""Webhook subscriptions (the n8n trigger's API), the delivery log and the signing secret.

``POST /project/{id}/webhooks`` ``{url, events}`` subscribes (the same URL again replaces
its events), ``POST .../webhooks/check`` ``{url}`` answers ``{exists, id?}``,
``DELETE .../webhooks/{id}`` unsubscribes; the same routes live under
``/v1/projects/{id}/webhooks``, with ``GET`` to list them, ``GET .../webhooks/deliveries``
for the delivery log (every attempt's status, latency and error) and
``GET .../webhooks/secret`` for the secret that signs every delivery.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator

from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import iso
from pathweaver.errors import NotFound, OutboundRefused, UserError
from pathweaver.lifecycle.payloads import EVENTS
from pathweaver.store.lifecycle import Subscription
from pathweaver.store.store import Store
from pathweaver.tools.outbound import check_url, policy_from_settings

CallerDep = Annotated[Caller, Depends(project_caller)]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _check_url(url: str) -> str:
    """A URL a delivery can be posted to; ValueError saying what to fix."""
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise ValueError("must not contain spaces or control characters; percent-encode them")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "must not hold credentials (user:password@); deliveries are signed, verify "
            "X-Pathweaver-Signature with the secret from GET /webhooks/secret instead"
        )
    try:
        port_ok = parts.port != 0
    except ValueError:  # not a number, or past 65535
        port_ok = False
    if not port_ok:
        raise ValueError("has a port that is not a number from 1 to 65535")
    return url


def _check_destination(request: Request, url: str) -> None:
    """Refuse, when it subscribes, a URL every delivery would be refused to (a private or
    loopback address not in ``PATHWEAVER_OUTBOUND_ALLOW``, a port not allowed)."""
    try:
        check_url(url, policy_from_settings(request.app.state.settings))
    except OutboundRefused as exc:
        raise UserError(
            f"url: {exc.message}", details={"errors": [{"field": "url", "message": exc.message}]}
        ) from None


class SubscribeBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(min_length=1, max_length=2000)
    events: list[str] = Field(default_factory=lambda: ["session.ended"], min_length=1, max_length=10)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        unknown = [e for e in value if e not in EVENTS]
        if unknown:
            raise ValueError(f"unknown event {unknown[0]!r}; use {', '.join(EVENTS)}")
        return list(dict.fromkeys(value))


class CheckBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str = Field(min_length=1, max_length=2000)


# Response shapes (documentation: api/openapi.py answers()) -------------------------------


class WebhookOut(BaseModel):
    """A webhook subscription: where to post, and for which events."""

    id: str
    url: str
    events: list[str] = Field(description=f"Event names: {', '.join(EVENTS)}")
    createdAt: str


class WebhookCreatedOut(WebhookOut):
    """The subscription, both flat (the n8n trigger reads it so) and under data."""

    data: WebhookOut


class WebhookListEnvelope(BaseModel):
    """The project's webhook subscriptions."""

    data: list[WebhookOut]


class WebhookFound(BaseModel):
    """A subscription for that URL exists."""

    exists: Literal[True]
    id: str


class WebhookMissing(BaseModel):
    """No subscription for that URL."""

    exists: Literal[False]


class WebhookCheckOut(RootModel[WebhookFound | WebhookMissing]):
    """Whether a subscription for the URL exists, and its id if so."""


class WebhookDeletedOut(BaseModel):
    """The subscription was deleted."""

    success: Literal[True]
    id: str


class DeliveryAttemptOut(BaseModel):
    """One attempt to send a delivery."""

    attempt: int = Field(description="1 for the first attempt")
    statusCode: int | None = Field(description="The receiver's HTTP status; null when none came back")
    latencyMs: int | None
    error: str | None
    at: str


class DeliveryOut(BaseModel):
    """One event sent (or to be sent) to one webhook, with its attempts."""

    id: int
    event: str
    url: str
    status: Literal["pending", "sending", "delivered", "failed", "unknown"] = Field(
        description="unknown: an at-most-once event cut off mid-send, never resent"
    )
    attempts: list[DeliveryAttemptOut]
    lastError: str | None
    createdAt: str
    deliveredAt: str | None
    payload: dict[str, Any] = Field(description="The JSON body sent")


class DeliveryListEnvelope(BaseModel):
    """Recent deliveries, newest first."""

    data: list[DeliveryOut]


class WebhookSecretOut(BaseModel):
    """The secret that signs every delivery."""

    secret: str


class WebhookSecretEnvelope(BaseModel):
    """The project's webhook signing secret."""

    data: WebhookSecretOut


def subscription_json(sub: Subscription) -> dict[str, Any]:
    return {"id": sub.id, "url": sub.url, "events": sub.events, "createdAt": iso(sub.created_at)}


async def subscribe(request: Request, projectId: str, body: SubscribeBody, caller: CallerDep) -> Any:
    _check_destination(request, body.url)
    sub = await _store(request).lifecycle.subscribe(projectId, body.url, body.events)
    return {"data": subscription_json(sub), **subscription_json(sub)}


async def list_subscriptions(request: Request, projectId: str, caller: CallerDep) -> Any:
    subs = await _store(request).lifecycle.subscriptions(projectId)
    return {"data": [subscription_json(s) for s in subs]}


async def check(request: Request, projectId: str, body: CheckBody, caller: CallerDep) -> Any:
    subs = await _store(request).lifecycle.subscriptions(projectId)
    found = next((s for s in subs if s.url == body.url), None)
    return {"exists": True, "id": found.id} if found else {"exists": False}


async def unsubscribe(request: Request, projectId: str, webhookId: str, caller: CallerDep) -> Any:
    if not await _store(request).lifecycle.unsubscribe(projectId, webhookId):
        raise NotFound(f"webhook {webhookId!r} not found")
    return {"success": True, "id": webhookId}


async def deliveries(
    request: Request, projectId: str, caller: CallerDep, sessionId: str | None = None
) -> Any:
    store = _store(request)
    session_pk = None
    if sessionId is not None:
        session = await store.sessions.get(projectId, sessionId)
        if session is None:
            raise NotFound("Session not found")
        session_pk = session.pk
    log = await store.lifecycle.deliveries(projectId, session_pk=session_pk)
    return {
        "data": [
            {
                "id": item["delivery"].id,
                "event": item["delivery"].event,
                "url": item["delivery"].url,
                "status": item["delivery"].status,
                "attempts": [{**a, "at": iso(a["at"])} for a in item["attempts"]],
                "lastError": item["delivery"].last_error,
                "createdAt": iso(item["delivery"].created_at),
                "deliveredAt": iso(item["delivery"].delivered_at),
                "payload": item["delivery"].payload,
            }
            for item in log
        ]
    }


async def secret(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": {"secret": await _store(request).lifecycle.secret(projectId)}}


async def rotate_secret(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": {"secret": await _store(request).lifecycle.secret(projectId, rotate=True)}}


def webhook_routers() -> list[APIRouter]:
    created, checked, deleted = (
        answers(WebhookCreatedOut),
        answers(WebhookCheckOut),
        answers(WebhookDeletedOut),
    )
    secret_answer = answers(WebhookSecretEnvelope)
    v1 = APIRouter(prefix="/v1/projects/{projectId}/webhooks", tags=["webhooks"])
    v1.add_api_route("", subscribe, methods=["POST"], responses=created)
    v1.add_api_route("", list_subscriptions, methods=["GET"], responses=answers(WebhookListEnvelope))
    v1.add_api_route("/check", check, methods=["POST"], responses=checked)
    v1.add_api_route("/deliveries", deliveries, methods=["GET"], responses=answers(DeliveryListEnvelope))
    v1.add_api_route("/secret", secret, methods=["GET"], responses=secret_answer)
    v1.add_api_route("/secret/rotate", rotate_secret, methods=["POST"], responses=secret_answer)
    v1.add_api_route("/{webhookId}", unsubscribe, methods=["DELETE"], responses=deleted)
    legacy = APIRouter(
        prefix="/project/{projectId}/webhooks", tags=["webhooks (deprecated paths)"], deprecated=True
    )
    legacy.add_api_route("", subscribe, methods=["POST"], name="legacy_subscribe", responses=created)
    legacy.add_api_route("/check", check, methods=["POST"], name="legacy_check", responses=checked)
    legacy.add_api_route(
        "/{webhookId}", unsubscribe, methods=["DELETE"], name="legacy_unsubscribe", responses=deleted
    )
    return [v1, legacy]
