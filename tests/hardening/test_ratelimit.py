"""Rate limits per key and per project (429 + Retry-After), turns per session, model calls per turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace

import httpx
import openai
import pytest
from fastapi import FastAPI

from pathweaver.api.app import create_app
from pathweaver.api.ratelimit import (
    BudgetedModel,
    ModelCallLimitExceeded,
    Rate,
    RateLimiter,
    RateLimits,
    TokenBuckets,
    TurnBudget,
    current_budget,
    install,
)
from pathweaver.config import Settings
from pathweaver.errors import RateLimited
from pathweaver.llm.base import ChatRequest, Message, collect
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project

END_WORDS = "I have nothing more to ask and want to end the conversation"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# The buckets ---------------------------------------------------------------------------


def test_a_bucket_lets_a_burst_through_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(per_minute=60, burst=3), clock=clock)
    for _ in range(3):
        assert buckets.wait("k") == 0
        buckets.take("k")
    assert buckets.wait("k") == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert buckets.wait("k") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.wait("k") == 0
    clock.now += 3600  # a long pause refills to the burst, not beyond
    for _ in range(3):
        buckets.take("k")
    assert buckets.wait("k") > 0


def test_buckets_are_bounded_and_a_forgotten_one_comes_back_full() -> None:
    buckets = TokenBuckets(Rate(60, 1), clock=Clock(), max_buckets=2)
    for name in ("a", "b", "c"):
        buckets.take(name)
    assert buckets.wait("c") > 0 and buckets.wait("b") > 0
    assert buckets.wait("a") == 0  # dropped as least recently used: full again


def test_a_bucket_full_again_is_forgotten_so_idle_sessions_hold_no_memory() -> None:
    clock = Clock()
    buckets = TokenBuckets(Rate(per_minute=60, burst=3), clock=clock)  # full again 3 s after a take
    for n in range(100):
        buckets.take(f"idle-{n}")
    clock.now += 3.0
    for _ in range(60):
        buckets.take("busy")
        clock.now += 0.05
    assert len(buckets) == 1
    assert buckets.wait("idle-0") == 0  # forgotten means full: nothing held against it


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="per_minute"):
        Rate(0, 5)
    with pytest.raises(ValueError, match="burst"):
        Rate(60, 0)


def test_key_and_project_limits_hold_apart_and_a_refusal_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(per_key=Rate(60, 2), per_project=Rate(60, 3)), clock=clock)
    limiter.check("key-1", "proj")
    limiter.check("key-1", "proj")
    with pytest.raises(RateLimited) as refused:
        limiter.check("key-1", "proj")  # key-1 is out; the project still has one token
    assert refused.value.retry_after == pytest.approx(1.0)
    assert "API key" in refused.value.message
    limiter.check("key-2", "proj")  # ... which key-2 may use, since key-1's refusal took none
    with pytest.raises(RateLimited) as project_out:
        limiter.check("key-3", "proj")
    assert "project" in project_out.value.message
    limiter.check("key-3", "other-project")
    limiter.check("key-3", None)  # routes that name no project only count the key


def test_limits_come_from_the_settings_and_zero_turns_a_limit_off() -> None:
    settings = SimpleNamespace(
        rate_limit_key_per_minute=600,
        rate_limit_key_burst=50,
        rate_limit_project_per_minute=0,
        rate_limit_project_burst=100,
        rate_limit_session_per_minute=30,
        rate_limit_session_burst=5,
        max_model_calls_per_turn=12,
    )
    assert RateLimits.from_settings(settings) == RateLimits(  # type: ignore[arg-type]
        per_key=Rate(600, 50), per_project=None, per_session=Rate(30, 5), max_model_calls_per_turn=12
    )


async def test_the_default_limits_let_a_backend_serving_everyone_with_one_key_through(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    """One key, as a deployment's backend uses it for all its users: a script's few hundred
    quick calls, and many conversations' turns, are not refused (they were past 100)."""
    app = create_app(settings, store=store, model=model)  # the defaults
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for _ in range(250):
            answer = await http.get(f"/v1/projects/{project.id}/models", headers=project.auth)
            assert answer.status_code == 200, answer.text
        for user in range(30):
            for text in ("hello", "again"):
                answer = await http.post(**turn(project, f"user-{user}", text))  # type: ignore[arg-type]
                assert answer.status_code == 200, answer.text


async def test_create_app_enforces_the_limits_of_its_settings(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    limited = settings.model_copy(update={"rate_limit_key_per_minute": 60.0, "rate_limit_key_burst": 2})
    app = create_app(limited, store=store, model=model)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for _ in range(2):
            assert (
                await http.get(f"/v1/projects/{project.id}/agent", headers=project.auth)
            ).status_code == 200
        over = await http.get(f"/v1/projects/{project.id}/agent", headers=project.auth)
        assert over.status_code == 429
        assert 0 < int(over.headers["retry-after"]) <= 1


# Over HTTP ----------------------------------------------------------------------------


@pytest.fixture
async def limited(
    settings: Settings, store: Store, model: ScriptedModel
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Clock]]:
    app = create_app(settings, store=store, model=model)
    clock = Clock()
    install(app, RateLimits(per_key=Rate(60, 3)), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pathweaver.test") as http:
            yield app, http, clock


def turn(project: Project, session: str, text: str = "hello") -> dict[str, object]:
    return {
        "url": f"/v1/projects/{project.id}/chat/completions",
        "json": {"messages": [{"role": "user", "content": text}]},
        "headers": {**project.auth, "X-Session-ID": session},
    }


async def test_a_key_over_its_rate_gets_429_with_retry_after(
    limited: tuple[FastAPI, httpx.AsyncClient, Clock], project: Project
) -> None:
    _, http, clock = limited
    for _ in range(3):
        assert (await http.post(**turn(project, "rl"))).status_code == 200  # type: ignore[arg-type]
    refused = await http.post(**turn(project, "rl"))  # type: ignore[arg-type]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    # Every route of the project counts, and answers in its own error style.
    session_route = await http.get(f"/v1/projects/{project.id}/sessions/rl", headers=project.auth)
    assert session_route.status_code == 429 and "rate limit" in session_route.json()["error"]
    projects = await http.get("/v1/projects", headers=project.auth)
    assert projects.status_code == 429
    clock.now += 1.0
    assert (await http.post(**turn(project, "rl"))).status_code == 200  # type: ignore[arg-type]


async def test_every_answer_says_where_the_caller_stands_in_openai_s_headers(
    limited: tuple[FastAPI, httpx.AsyncClient, Clock], project: Project
) -> None:
    _, http, clock = limited
    first = await http.post(**turn(project, "hd"))  # type: ignore[arg-type]
    assert first.headers["x-ratelimit-limit-requests"] == "60"
    assert first.headers["x-ratelimit-remaining-requests"] == "2"
    assert first.headers["x-ratelimit-reset-requests"] == "1s"  # one token back a second
    streamed = await http.post(  # a stream carries them in its headers too
        **turn(project, "hd-stream")
        | {"json": {"messages": [{"role": "user", "content": "hi"}], "stream": True}}
    )  # type: ignore[arg-type]
    assert streamed.status_code == 200
    assert streamed.headers["x-ratelimit-remaining-requests"] == "1"
    assert streamed.headers["x-ratelimit-reset-requests"] == "2s"
    await http.post(**turn(project, "hd"))  # type: ignore[arg-type]
    refused = await http.post(**turn(project, "hd"))  # type: ignore[arg-type]
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.headers["x-ratelimit-reset-requests"] == "3s"
    clock.now += 0.25
    still = await http.get(f"/v1/projects/{project.id}/agent", headers=project.auth)
    assert still.headers["x-ratelimit-reset-requests"] == "2.75s"
    assert still.headers["retry-after"] == "1"


def test_reset_durations_are_written_the_way_openai_writes_them() -> None:
    from pathweaver.api.ratelimit import duration

    assert [duration(s) for s in (0, 0.0004, 0.25, 1, 1.5, 59.94, 60, 150, 3725)] == [
        "0s",
        "1ms",
        "250ms",
        "1s",
        "1.5s",
        "59.9s",
        "1m0s",
        "2m30s",
        "1h2m5s",
    ]


def test_without_limits_no_quota_is_reported() -> None:
    assert RateLimiter(RateLimits()).admit("k", "p") is None


async def test_the_openai_client_raises_its_rate_limit_error(
    limited: tuple[FastAPI, httpx.AsyncClient, Clock], project: Project
) -> None:
    app, _, _ = limited
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pathweaver.test")
    client = openai.AsyncOpenAI(
        base_url=f"http://pathweaver.test/v1/projects/{project.id}",
        api_key=project.key,
        http_client=http,
        max_retries=0,
    )
    async with client:
        for _ in range(3):
            await client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.RateLimitError) as refused:
            await client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.response.headers["retry-after"] == "1"


async def test_invalid_keys_never_spend_a_project_s_budget(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    app = create_app(settings, store=store, model=model)
    install(app, RateLimits(per_project=Rate(60, 2)), clock=Clock())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for i in range(20):
            flood = await http.get(
                f"/v1/projects/{project.id}/agent",
                headers={"Authorization": f"Bearer sk_{'x' * 42}{i % 10}"},
            )
            assert flood.status_code == 401
        for _ in range(2):
            assert (
                await http.get(f"/v1/projects/{project.id}/agent", headers=project.auth)
            ).status_code == 200
        over = await http.get(f"/v1/projects/{project.id}/agent", headers=project.auth)
        assert over.status_code == 429
        assert over.json()["error"]["message"].startswith("rate limit exceeded for this project")


async def test_two_keys_of_one_project_share_the_project_s_bucket(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    _, second = await store.projects.create_key("sk", [project.id], name="second")
    app = create_app(settings, store=store, model=model)
    install(app, RateLimits(per_key=Rate(60, 5), per_project=Rate(60, 3)), clock=Clock())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        path = f"/v1/projects/{project.id}/models"
        for headers in (project.auth, project.auth, {"Authorization": f"Bearer {second}"}):
            assert (await http.get(path, headers=headers)).status_code == 200
        assert (await http.get(path, headers={"Authorization": f"Bearer {second}"})).status_code == 429


async def test_one_conversation_over_its_rate_gets_429_and_the_others_on_its_key_go_on(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    app = create_app(settings, store=store, model=model)
    clock = Clock()
    install(app, RateLimits(per_key=Rate(6000, 1000), per_session=Rate(60, 2)), clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for text in ("one", "two"):
            assert (await http.post(**turn(project, "chatty", text))).status_code == 200  # type: ignore[arg-type]
        refused = await http.post(**turn(project, "chatty", "three"))  # type: ignore[arg-type]
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-ratelimit-limit-requests"] == "60"
        error = refused.json()["error"]
        assert error["code"] == "session_rate_limit_exceeded"
        assert error["message"].startswith("rate limit exceeded for session 'chatty': 60 turns a minute")
        # The same key, another conversation: not affected.
        assert (await http.post(**turn(project, "quiet"))).status_code == 200  # type: ignore[arg-type]
        # Reading the flooded session is not a turn.
        assert (
            await http.get(f"/v1/projects/{project.id}/sessions/chatty", headers=project.auth)
        ).status_code == 200
        # The body's session_id names the session as the header does.
        by_body = await http.post(
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": [{"role": "user", "content": "four"}], "session_id": "chatty"},
            headers=project.auth,
        )
        assert by_body.status_code == 429
        clock.now += 1.0
        assert (await http.post(**turn(project, "chatty", "four"))).status_code == 200  # type: ignore[arg-type]
        # The interactive test API's turns count too.
        conversations = f"/v1/projects/{project.id}/conversations"
        started = (await http.post(conversations, json={}, headers=project.auth)).json()["data"]
        path = f"{conversations}/{started['sessionId']}/messages"
        for text in ("a", "b"):
            assert (await http.post(path, json={"message": text}, headers=project.auth)).status_code == 200
        assert (await http.post(path, json={"message": "c"}, headers=project.auth)).status_code == 429


# Caps on a turn and on a session --------------------------------------------------------


async def test_a_turn_over_its_model_call_cap_fails_clearly_and_stores_nothing(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    """A transition costs two model calls; with a cap of one the turn stops before the second."""
    app = create_app(settings, store=store, model=model)
    install(app, RateLimits(max_model_calls_per_turn=1))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        calls = model.count()
        failed = await http.post(**turn(project, "capped", END_WORDS))  # type: ignore[arg-type]
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "model_call_limit_exceeded"
        assert "more than 1 model calls" in failed.json()["error"]["message"]
        assert model.count() == calls + 1  # the second call never reached the model
        state = await http.get(f"/v1/projects/{project.id}/sessions/capped", headers=project.auth)
        # Nothing stored: the session only this failed turn created is not kept.
        assert state.status_code == 404 or state.json()["state"]["messages"] == []
        install(app, RateLimits(max_model_calls_per_turn=2))
        done = await http.post(**turn(project, "capped", END_WORDS))  # type: ignore[arg-type]
        assert done.status_code == 200, done.text


async def test_the_model_call_budget_counts_only_inside_a_request() -> None:
    model = BudgetedModel(ScriptedModel())
    request = ChatRequest(messages=(Message(role="user", content="hi"),))
    for _ in range(3):
        await collect(model.stream(request))  # no budget open: the CLI's chat, for one
    token = current_budget.set(TurnBudget(2))
    try:
        await collect(model.stream(request))
        await collect(model.stream(request))
        with pytest.raises(ModelCallLimitExceeded):
            await collect(model.stream(request))
    finally:
        current_budget.reset(token)


async def test_a_session_over_its_turn_cap_gets_409(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    app = create_app(settings.model_copy(update={"max_turns_per_session": 2}), store=store, model=model)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        for text in ("one", "two"):
            assert (await http.post(**turn(project, "short", text))).status_code == 200  # type: ignore[arg-type]
        third = await http.post(**turn(project, "short", "three"))  # type: ignore[arg-type]
        assert third.status_code == 409
        assert third.json()["error"]["code"] == "session_turn_limit"
        # A retry of the last turn still gets its stored answer: the cap stops new turns only.
        history = await http.get(f"/v1/projects/{project.id}/sessions/short", headers=project.auth)
        stored = [m for m in history.json()["state"]["messages"] if m["role"] in ("user", "assistant")]
        first_two = [{"role": m["role"], "content": m["content"]} for m in stored[:3]]
        retried = await http.post(
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": first_two},
            headers={**project.auth, "X-Session-ID": "short"},
        )
        assert retried.status_code == 200, retried.text
        # The deprecated body session_id names the same session.
        body_named = await http.post(
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": [{"role": "user", "content": "four"}], "session_id": "short"},
            headers=project.auth,
        )
        assert body_named.status_code == 409
        assert (await http.post(**turn(project, "fresh", "one"))).status_code == 200  # type: ignore[arg-type]
        base = f"/v1/projects/{project.id}/conversations"
        assert (
            await http.post(base, json={"sessionId": "test-conv"}, headers=project.auth)
        ).status_code == 200
        for text in ("one", "two"):
            sent = await http.post(f"{base}/test-conv/messages", json={"message": text}, headers=project.auth)
            assert sent.status_code == 200
        capped = await http.post(f"{base}/test-conv/messages", json={"message": "x"}, headers=project.auth)
        assert capped.status_code == 409
        assert "limit of 2 turns" in capped.json()["error"]["message"]
