"""Agent files through the CLI: ``project create --from`` and ``pathway import`` validate alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pathweaver.cli import app


def _file(edges: list[dict[str, Any]]) -> dict[str, Any]:
    node = {"id": "start", "type": "start", "data": {"type": "start", "title": "Start", "prompt": "Greet."}}
    return {"schemaVersion": 1, "agent": {"name": "Shop"}, "pathway": {"nodes": [node], "edges": edges}}


BROKEN = _file([{"id": "e1", "source": "start", "target": "nowhere", "data": {"condition": "always"}}])


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def test_project_create_from_a_broken_file_creates_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(BROKEN), encoding="utf-8")

    result = run("project", "create", "Shop", "--from", broken, "--json", "--data-dir", tmp_path)

    assert result.exit_code == 1
    assert 'edge "e1": target "nowhere" is not a node of this pathway' in result.stderr
    assert result.stdout == ""  # no key was shown
    listed = run("project", "list", "--json", "--data-dir", tmp_path)
    assert json.loads(listed.stdout) == []


def test_project_create_and_import_accept_the_same_good_file(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_file([])), encoding="utf-8")

    created = run("project", "create", "Shop", "--from", good, "--json", "--data-dir", tmp_path)
    assert created.exit_code == 0, created.stderr
    project_id = json.loads(created.stdout)["projectId"]
    imported = run("pathway", "import", good, "--project", project_id, "--data-dir", tmp_path)
    assert imported.exit_code == 0, imported.stderr
    assert imported.stdout == "pathway unchanged: version 1\n"  # the same pathway makes no version
    edited = _file([])
    edited["pathway"]["nodes"][0]["data"]["title"] = "Hello"
    good.write_text(json.dumps(edited), encoding="utf-8")
    imported = run("pathway", "import", good, "--project", project_id, "--data-dir", tmp_path)
    assert imported.exit_code == 0, imported.stderr
    assert "saved pathway version 2" in imported.stdout

    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(BROKEN), encoding="utf-8")
    refused = run("pathway", "import", broken, "--project", project_id, "--data-dir", tmp_path)
    assert refused.exit_code == 1 and "nowhere" in refused.stderr
    listed = json.loads(run("project", "list", "--json", "--data-dir", tmp_path).stdout)
    assert [p["pathwayVersion"] for p in listed] == [2]
