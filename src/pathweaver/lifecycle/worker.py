"""The lifecycle worker: a background task per server process.

It runs end-of-session pipelines, sends due webhook deliveries, and ends sessions idle for
longer than ``session_idle_timeout``. Every worker process runs one; they share the work
through the database (see ``store/lifecycle.py``), and nothing they do is on a request's
path: a slow receiver delays only its own delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.errors import LLMConfigError
from pathweaver.lifecycle import delivery as sending
from pathweaver.lifecycle.finalize import finalize
from pathweaver.llm.base import Model
from pathweaver.llm.registry import Models
from pathweaver.store.lifecycle import Delivery
from pathweaver.store.schema import utcnow
from pathweaver.store.store import Store

log = logging.getLogger("pathweaver.lifecycle")


class LifecycleWorker:
    def __init__(self, store: Store, model: Model | Models, settings: Settings, poster: sending.Poster):
        self.store = store
        #: End-of-session extraction and evaluation use the agent's model choice.
        self.models = model if isinstance(model, Models) else Models.single(model)
        self.settings = settings
        self.poster = poster
        self.wake = asyncio.Event()
        self._last_sweep = 0.0

    async def run(self) -> None:
        while True:
            try:
                busy = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lifecycle worker step failed; continuing")
                busy = False
            if not busy:
                # ``asyncio.timeout``, not ``wait_for``: on Python 3.11, a cancel that comes as
                # the wake-up does is swallowed by ``wait_for``, and the worker would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.lifecycle_poll_interval):
                        await self.wake.wait()
                self.wake.clear()

    async def tick(self) -> bool:
        """One round of work; True when something was done (so look again at once)."""
        did = await self.run_one_job()
        deliveries = await self.store.lifecycle.claim_deliveries(
            limit=10, max_attempts=self.settings.webhook_max_attempts
        )
        if deliveries:
            await asyncio.gather(*(self.send(d) for d in deliveries))
        loop = asyncio.get_running_loop()
        if self.settings.session_idle_timeout and loop.time() - self._last_sweep > 30:
            self._last_sweep = loop.time()
            await self.end_idle_sessions()
        return did or bool(deliveries)

    def _model_for(self, agent: AgentConfig) -> Model:
        """The agent's model; one this server cannot serve (saved with a warning) is logged and
        the default serves, so the end of the session still extracts, evaluates and delivers."""
        try:
            return self.models.pick(agent.model)
        except LLMConfigError as problem:
            log.warning("end of session: %s; using the default model", problem.message)
            return self.models.default

    async def run_one_job(self) -> bool:
        claimed = await self.store.lifecycle.claim_job("finalize")
        if claimed is None:
            return False
        job_id, session_pk = claimed
        try:
            session = await self.store.sessions.by_pk(session_pk)
            agent = (await self.store.projects.get_agent(session.project_id)).config
            stored = await self.store.projects.get_pathway(session.project_id, session.pathway_version)
            pathway = Pathway.model_validate(stored.document)
            history = await self.store.sessions.messages(session_pk)
            subscriptions = await self.store.lifecycle.subscriptions(session.project_id)
            result = await finalize(self._model_for(agent), agent, pathway, session, history, subscriptions)
        except Exception as exc:
            log.exception("end-of-session pipeline failed for session %s", session_pk)
            await self.store.lifecycle.finish_job(job_id, error=f"{type(exc).__name__}: {exc}")
            return True
        await self.store.lifecycle.finish_job(
            job_id,
            extracted=result.extracted,
            evaluation=result.evaluation,
            deliveries=result.deliveries,
            project_id=session.project_id,
            session_pk=session_pk,
        )
        return True

    async def send(self, delivery: Delivery) -> None:
        secret = await self.store.lifecycle.secret(delivery.project_id)
        result = await self._post(delivery, secret)
        verdict = sending.judge(
            delivery,
            result,
            max_attempts=self.settings.webhook_max_attempts,
            base_delay=self.settings.webhook_retry_base,
        )
        await self.store.lifecycle.record_attempt(
            delivery,
            status=verdict.status,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            retry_at=verdict.retry_at,
        )

    async def _post(self, delivery: Delivery, secret: str) -> sending.PostResult:
        """One attempt. Whatever goes wrong becomes a failed attempt, recorded and retried
        like any other: a delivery never stays ``sending`` because the request could not be
        built or sent (a header the HTTP client refused, a bug in a client library)."""
        try:
            headers, body = sending.request_for(delivery, secret)
            return await self.poster.post(delivery.url, headers, body)
        except Exception as exc:
            log.exception("webhook delivery %s could not be sent", delivery.id)
            return sending.PostResult(None, f"could not send the request: {type(exc).__name__}: {exc}"[:500])

    async def end_idle_sessions(self) -> None:
        cutoff = utcnow() - timedelta(seconds=self.settings.session_idle_timeout)
        for project_id, external_id in await self.store.lifecycle.idle_sessions(cutoff):
            await self.store.sessions.end(project_id, external_id, "idle_timeout")
