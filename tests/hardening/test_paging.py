"""Paging past the end: a page number or offset no listing can reach gets an empty page or a
4xx, never a 500. Found by schemathesis (``OverflowError: Python int too large to convert to
SQLite INTEGER`` from ``GET .../sessions?page=<huge>``), shown here deterministically."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Project

HUGE = 2**63  # one past SQLite's and PostgreSQL's largest integer


@pytest.mark.parametrize(
    "path", ["/v1/projects/{pid}/sessions", "/v1/projects/{pid}/session-history", "/project/{pid}/session"]
)
async def test_a_page_past_any_listing_is_not_a_server_error(
    client: httpx.AsyncClient, project: Project, path: str
) -> None:
    response = await client.get(path.format(pid=project.id), params={"page": HUGE}, headers=project.auth)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["data"] == []


async def test_a_search_offset_past_any_listing_is_not_a_server_error(
    client: httpx.AsyncClient, project: Project
) -> None:
    response = await client.post(
        f"/v1/projects/{project.id}/sessions/search",
        json={"search_string": "anything", "offset": HUGE},
        headers=project.auth,
    )
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        assert response.json()["results"] == []
