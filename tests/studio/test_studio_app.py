"""The studio's static serving (pathweaver.api.studio), in-process on the smallest app."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pathweaver.api.studio import CSP, IMMUTABLE, mount_studio


@pytest.fixture
def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>studio</title>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def client_for(directory: Path) -> TestClient:
    app = FastAPI()

    @app.get("/v1/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    mount_studio(app, directory)
    return TestClient(app)


def test_index_is_served_and_revalidated(built: Path) -> None:
    client = client_for(built)
    redirect = client.get("/studio", follow_redirects=False)
    assert redirect.status_code == 307
    assert redirect.headers["location"].endswith("/studio/")
    page = client.get("/studio/")
    assert page.status_code == 200
    assert "<title>studio</title>" in page.text
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["content-security-policy"] == CSP


def test_client_routes_answer_the_index(built: Path) -> None:
    client = client_for(built)
    page = client.get("/studio/p/proj_1/sessions/session-9")
    assert page.status_code == 200
    assert "<title>studio</title>" in page.text
    assert page.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_cached_for_good_and_missing_files_are_404(built: Path) -> None:
    client = client_for(built)
    asset = client.get("/studio/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == IMMUTABLE
    assert "javascript" in asset.headers["content-type"]
    assert client.get("/studio/favicon.svg").headers["cache-control"] == "public, max-age=3600"
    assert client.get("/studio/assets/gone-000.js").status_code == 404
    assert client.get("/studio/robots.txt").status_code == 404
    assert client.get("/studio/../pyproject.toml").status_code == 404


def test_only_get_and_head(built: Path) -> None:
    client = client_for(built)
    assert client.head("/studio/").status_code == 200
    assert client.post("/studio/").status_code == 405


def test_a_missing_build_says_how_to_build_it_and_the_api_still_works(tmp_path: Path) -> None:
    client = client_for(tmp_path / "not-built")
    for path in ("/studio/", "/studio/p/x/canvas", "/studio/assets/index.js"):
        page = client.get(path)
        assert page.status_code == 503
        assert "scripts/setup.sh" in page.text
        assert page.headers["cache-control"] == "no-store"
    assert client.get("/v1/ping").json() == {"pong": "yes"}
