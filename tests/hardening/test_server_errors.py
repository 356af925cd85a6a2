"""After an unexpected error, the server says it closes the connection (issue 20, defect 11).

Starlette raises the error again once the 500 is sent, and uvicorn then drops the
connection: without ``Connection: close``, a keep-alive client sends its next request on a
connection that is going away, and that request is reset.
"""

from __future__ import annotations

import httpx
import pytest

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import Project
from tests.hardening.conftest import served


class Broken(RuntimeError):
    pass


async def test_a_500_closes_the_connection_politely_and_the_next_request_works(
    settings: Settings, store: Store, model: ScriptedModel, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, store=store, model=model)

    @app.get("/broken")
    async def broken() -> None:
        raise Broken("a bug")

    async with served(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        for _ in range(5):
            failed = await http.get("/broken")
            assert failed.status_code == 500
            assert failed.headers["connection"] == "close"
            assert failed.json()["error"]["message"] == "internal error; it has been logged"
            assert (await http.get("/healthz")).status_code == 200

        # The chat route's direct entry (api/runtime.py DirectChat) too.
        async def fail(*args: object, **kwargs: object) -> None:
            raise Broken("a bug in a turn")

        monkeypatch.setattr(app.state.store.projects, "session_basis", fail)
        chat = await http.post(
            f"/v1/projects/{project.id}/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers={**project.auth, "X-Session-ID": "s1"},
        )
        assert chat.status_code == 500 and chat.headers["connection"] == "close"
        assert chat.json()["error"]["type"] == "server_error"
        assert (await http.get("/healthz")).status_code == 200
