"""The composition root: ``create_app(settings, store=None, model=None)``.

Everything the routes need hangs off ``app.state`` (settings, store, model, conversations),
built here and nowhere else. A store or model passed in is used as is (and closed by its
owner); otherwise they are opened at start-up from the settings and closed at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from pathweaver import __version__
from pathweaver.api import bodies, errors, openapi, ratelimit
from pathweaver.api.heap import CountRequests, IdleCollector, settle_heap, share_the_interpreter
from pathweaver.api.history import history_routers
from pathweaver.api.interactive import interactive_router
from pathweaver.api.knowledge import knowledge_router
from pathweaver.api.looplag import LoopLag
from pathweaver.api.management import management_router
from pathweaver.api.middleware import BodyLimit, LegacyPathHeaders, OverheadHeader
from pathweaver.api.projects import projects_router
from pathweaver.api.runtime import DirectChat, chat_router, runtime_routers
from pathweaver.api.studio import mount_studio
from pathweaver.api.testing import cancel_test_runs, testing_router
from pathweaver.api.tools import tools_router
from pathweaver.api.webhooks import webhook_routers
from pathweaver.config import Settings, load_settings
from pathweaver.conversations import Conversations
from pathweaver.knowledge.bases import Knowledge
from pathweaver.knowledge.embeddings import embedders_from_settings
from pathweaver.lifecycle.delivery import OutboundPoster
from pathweaver.lifecycle.worker import LifecycleWorker
from pathweaver.llm.base import Model
from pathweaver.llm.metered import MeteredModel
from pathweaver.llm.registry import Models
from pathweaver.store.store import Store
from pathweaver.store.testing import TestingStore
from pathweaver.tools.outbound import OutboundClient, policy_from_settings
from pathweaver.tools.runner import ToolRunner

log = logging.getLogger("pathweaver")


def create_app(
    settings: Settings | None = None, *, store: Store | None = None, model: Model | None = None
) -> FastAPI:
    settings = settings or load_settings()
    policy = policy_from_settings(settings)
    lag = LoopLag(settings.loop_lag_warn_ms / 1000) if settings.loop_lag_warn_ms else None
    collector = IdleCollector()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        own_model = model is None
        the_store = store or await Store.open(settings)
        try:
            if model is None:
                from pathweaver.llm.factory import build_model, prepare_model

                the_model = build_model(settings)
                # Fail at start-up, naming the setting, rather than on the first turn.
                await prepare_model(the_model)
            else:
                the_model = model
            models = Models.from_settings(settings, the_model, wrap=_metered_and_budgeted)
            if own_model:
                await models.check_targets()
            outbound = OutboundClient(policy)
            tools = ToolRunner(outbound, max_result_chars=settings.tool_result_max_chars)
            knowledge = Knowledge(the_store.knowledge, embedders_from_settings(settings))
            await knowledge.resume()
            await TestingStore(the_store.engine).interrupt_stale_runs()
            worker = LifecycleWorker(the_store, models, settings, OutboundPoster(outbound))
            app.state.store = the_store
            app.state.model = the_model
            app.state.lifecycle = worker
            app.state.knowledge = knowledge
            app.state.conversations = Conversations(
                the_store,
                models,
                settings,
                on_end=worker.wake.set,
                tools=tools,
                knowledge=knowledge,
                freeze_cached=own_store,  # the process's server (see ``settle_heap``)
            )
            task = asyncio.create_task(worker.run(), name="pathweaver-lifecycle")
            watching = asyncio.create_task(lag.run(), name="pathweaver-looplag") if lag else None
            collecting = None
            if own_store:  # this app is the process's server (tests hand it a store)
                settle_heap()
                share_the_interpreter()
                collecting = asyncio.create_task(collector.run(), name="pathweaver-gc")
            try:
                yield
            finally:
                await cancel_test_runs(app)
                for running in (task, watching, collecting):
                    if running is not None:
                        running.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await running
                await knowledge.aclose()
                await outbound.aclose()
                await models.aclose()
                if own_model:
                    await the_model.aclose()
        finally:
            if own_store:
                await the_store.close()

    app = FastAPI(
        title="Pathweaver",
        version=__version__,
        description=(
            "Self-hosted server for conversational agents built as pathways, compatible with the "
            "Pathors API. Chat completions are OpenAI-compatible."
        ),
        lifespan=lifespan,
        # Every JSON body obeys the rules of ``pathweaver.jsonvalues`` (nesting, text).
        dependencies=[Depends(bodies.checked_json)],
    )
    app.state.settings = settings
    errors.install(app)
    chat = chat_router()
    for router in [chat, *history_routers(), *runtime_routers(), *webhook_routers()]:
        app.include_router(router)
    app.include_router(projects_router())
    app.include_router(interactive_router())
    app.include_router(management_router())
    app.include_router(testing_router())
    app.include_router(tools_router(policy))
    app.include_router(knowledge_router(max_dataset_bytes=settings.max_dataset_bytes))

    ratelimit.install(app, ratelimit.RateLimits.from_settings(settings))
    openapi.install(app)
    mount_studio(app)

    app.state.loop_lag = lag

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        """Up; with the event loop's lag (``loopLag``, milliseconds) and the full garbage
        collections run (``fullCollections``, :class:`IdleCollector`) unless the monitor is off."""
        if lag is None:
            return {"status": "ok"}
        return {"status": "ok", "loopLag": lag.snapshot(), "fullCollections": collector.snapshot()}

    app.add_middleware(DirectChat, route=next(r for r in chat.routes if isinstance(r, APIRoute)))
    app.add_middleware(LegacyPathHeaders, sunset=settings.legacy_sunset)
    app.add_middleware(OverheadHeader)
    app.add_middleware(
        BodyLimit,
        limit=settings.max_body_bytes,
        uploads=("/datasets", settings.max_dataset_bytes + 16 * 1024),
        read_timeout=settings.body_read_timeout or None,
    )
    app.add_middleware(CountRequests, collector=collector)
    return app


def _metered_and_budgeted(model: Model) -> Model:
    """Every model call is timed for the overhead header and charged to the turn's budget."""
    return MeteredModel(ratelimit.BudgetedModel(model))


def app_factory() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (settings from the environment)."""
    return create_app(load_settings())
