"""Knowledge bases and datasets over HTTP (pathors-api.md section 2.9), and retrieval quality
on real documents (a Markdown file, a PDF and a DOCX) with the local embedding model."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from pathweaver.config import Settings
from pathweaver.knowledge.embeddings import LocalEmbedder
from pathweaver.llm.scripted import Reply, ScriptedModel
from pathweaver.store.store import Store
from tests.api_tools.conftest import MAX_DATASET_BYTES, app_client
from tests.conftest import Project, make_project
from tests.knowledge.documents import corrupt_pdf, make_docx, make_pdf
from tests.knowledge.labelled import DATA, queries, score

KB = {"name": "Support", "type": "pgvector", "embeddingModelName": "text-embedding-3-small"}


async def create_base(api: httpx.AsyncClient, project: Project, **extra: Any) -> str:
    created = await api.post(
        f"/v1/projects/{project.id}/knowledgebases", headers=project.auth, json={**KB, **extra}
    )
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "Knowledgebase created successfully"
    return str(created.json()["id"])


async def upload(
    api: httpx.AsyncClient, project: Project, kb: str, filename: str, data: bytes, field: str = "dataset"
) -> httpx.Response:
    return await api.post(
        f"/v1/projects/{project.id}/knowledgebases/{kb}/datasets",
        headers=project.auth,
        files={field: (filename, data, "application/octet-stream")},
    )


async def settled(api: httpx.AsyncClient, project: Project, kb: str, count: int) -> list[dict[str, Any]]:
    """The datasets once ``count`` of them are ready or failed (clients poll isParsed)."""
    deadline = asyncio.get_running_loop().time() + 180
    while asyncio.get_running_loop().time() < deadline:
        datasets = (
            await api.get(f"/v1/projects/{project.id}/knowledgebases/{kb}/datasets", headers=project.auth)
        ).json()
        if len(datasets) == count and all(d["status"] in ("ready", "failed") for d in datasets):
            return list(datasets)
        await asyncio.sleep(0.05)
    raise AssertionError(f"datasets did not settle: {datasets}")


async def test_one_knowledge_base_per_project(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/knowledgebases"
    assert (await api.get(base, headers=project.auth)).json() == []
    kb = await create_base(api, project, chunkSize=300)
    listed = (await api.get(base, headers=project.auth)).json()
    assert [
        (k["id"], k["type"], k["chunkSize"], k["chunkOverlap"], k["embeddingModelName"]) for k in listed
    ] == [(kb, "pgvector", 300, 50, "text-embedding-3-small")]
    again = await api.post(base, headers=project.auth, json=KB)
    assert again.status_code == 409


async def test_knowledge_base_validation(api: httpx.AsyncClient, project: Project) -> None:
    base = f"/v1/projects/{project.id}/knowledgebases"
    for body, message in [
        ({**KB, "type": "qdrant"}, "type: only 'pgvector' is supported"),
        ({"type": "pgvector", "embeddingModelName": "m"}, "name: is required"),
        ({**KB, "chunkSize": 10}, "chunkSize must be between"),
        ({**KB, "chunkOverlap": 400}, "chunkOverlap must be between"),
    ]:
        response = await api.post(base, headers=project.auth, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["message"].startswith(message), response.json()


async def test_upload_process_preview_toggle_query_delete(api: httpx.AsyncClient, project: Project) -> None:
    kb = await create_base(api, project)
    prefix = f"/v1/projects/{project.id}/knowledgebases/{kb}"
    answer = await upload(api, project, kb, "restaurant.md", (DATA / "restaurant.md").read_bytes())
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == "Dataset Uploaded successfully, currently embedding in the background"
    assert answer.json()["success"] is True
    await upload(api, project, kb, "manual.pdf", make_pdf((DATA / "thermostat.txt").read_text()))
    await upload(api, project, kb, "policy.docx", make_docx((DATA / "travel_policy.txt").read_text()))
    datasets = await settled(api, project, kb, 3)
    assert [d["filename"] for d in datasets] == ["policy.docx", "manual.pdf", "restaurant.md"]  # newest first
    assert all(d["isParsed"] for d in datasets)
    assert {d["extensionType"] for d in datasets} == {"docx", "pdf", "md"}
    pdf = datasets[1]
    assert pdf["size"] > 0 and pdf["fileUrl"].endswith(f"/datasets/{pdf['id']}/file")
    original = await api.get(pdf["fileUrl"], headers=project.auth)
    assert original.content.startswith(b"%PDF-")

    chunks = (await api.get(f"{prefix}/datasets/{pdf['id']}/chunks", headers=project.auth)).json()
    assert len(chunks) == pdf["chunkCount"] >= 4
    assert set(chunks[0]) == {"id", "content", "contentLength", "isEnabled"}
    assert chunks[0]["content"].startswith("Nimbus T3") and chunks[0]["contentLength"] == len(
        chunks[0]["content"]
    )

    found = (
        await api.get(
            f"{prefix}/query", headers=project.auth, params={"q": "Error E4 heating signal", "topK": 1}
        )
    ).json()
    target = next(c for c in chunks if "Error E4" in c["content"])
    assert found[0]["id"] == target["id"]

    patched = await api.patch(
        f"{prefix}/chunks/{target['id']}", headers=project.auth, json={"isEnabled": False}
    )
    assert patched.json()["isEnabled"] is False
    found = (
        await api.get(f"{prefix}/query", headers=project.auth, params={"q": "Error E4 heating signal"})
    ).json()
    assert target["id"] not in [c["id"] for c in found]
    previewed = (await api.get(f"{prefix}/datasets/{pdf['id']}/chunks", headers=project.auth)).json()
    assert [c["isEnabled"] for c in previewed if c["id"] == target["id"]] == [False]

    deleted = await api.delete(f"{prefix}/datasets/{pdf['id']}", headers=project.auth)
    assert deleted.json() == {"message": "Dataset deleted successfully", "success": True}
    assert (await api.get(f"{prefix}/datasets/{pdf['id']}/chunks", headers=project.auth)).status_code == 404
    found = (
        await api.get(
            f"{prefix}/query", headers=project.auth, params={"q": "thermostat wiring breaker", "topK": 50}
        )
    ).json()
    assert all("thermostat" not in c["content"].lower() for c in found)


async def test_a_corrupt_pdf_fails_with_a_reason_and_changes_nothing_else(
    api: httpx.AsyncClient, project: Project
) -> None:
    kb = await create_base(api, project)
    prefix = f"/v1/projects/{project.id}/knowledgebases/{kb}"
    await upload(api, project, kb, "restaurant.md", (DATA / "restaurant.md").read_bytes())
    [good] = await settled(api, project, kb, 1)
    before = (
        await api.get(f"{prefix}/query", headers=project.auth, params={"q": "corkage fee", "topK": 50})
    ).json()

    await upload(api, project, kb, "broken.pdf", corrupt_pdf(make_pdf("hello")))
    datasets = await settled(api, project, kb, 2)
    broken = datasets[0]
    assert broken["status"] == "failed" and broken["isParsed"] is False
    assert broken["error"].startswith("the PDF is damaged")
    assert (await api.get(f"{prefix}/datasets/{broken['id']}/chunks", headers=project.auth)).json() == []
    assert datasets[1] == good
    after = (
        await api.get(f"{prefix}/query", headers=project.auth, params={"q": "corkage fee", "topK": 50})
    ).json()
    assert after == before


async def test_upload_errors(api: httpx.AsyncClient, project: Project) -> None:
    kb = await create_base(api, project)
    too_big = await upload(api, project, kb, "big.txt", b"a" * (MAX_DATASET_BYTES + 1))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["message"].startswith(
        f"dataset is larger than the limit of {MAX_DATASET_BYTES} bytes"
    )
    unsupported = await upload(api, project, kb, "tool.exe", b"MZ")
    assert (
        unsupported.status_code == 400
        and ".exe files are not supported" in unsupported.json()["error"]["message"]
    )
    wrong_field = await upload(api, project, kb, "a.txt", b"hello", field="file")
    assert wrong_field.status_code == 400 and "dataset is required" in wrong_field.json()["error"]["message"]
    not_multipart = await api.post(
        f"/v1/projects/{project.id}/knowledgebases/{kb}/datasets", headers=project.auth, json={}
    )
    assert not_multipart.status_code == 400
    empty = await upload(api, project, kb, "a.txt", b"")
    assert empty.status_code == 400
    no_query = await api.get(f"/v1/projects/{project.id}/knowledgebases/{kb}/query", headers=project.auth)
    assert no_query.status_code == 400 and no_query.json()["error"]["message"].startswith("q is required")
    assert (
        await api.get(f"/v1/projects/{project.id}/knowledgebases/{kb}/datasets", headers=project.auth)
    ).json() == []


async def test_another_project_sees_nothing(api: httpx.AsyncClient, project: Project, store: Store) -> None:
    kb = await create_base(api, project)
    await upload(api, project, kb, "restaurant.md", (DATA / "restaurant.md").read_bytes())
    [dataset] = await settled(api, project, kb, 1)
    other = await make_project(store, "other")
    prefix = f"/v1/projects/{other.id}/knowledgebases/{kb}"
    for method, path in [
        ("GET", f"{prefix}/datasets"),
        ("GET", f"{prefix}/datasets/{dataset['id']}/chunks"),
        ("GET", f"{prefix}/query?q=wine"),
        ("DELETE", f"{prefix}/datasets/{dataset['id']}"),
    ]:
        assert (await api.request(method, path, headers=other.auth)).status_code == 404, path
    other_kb = await create_base(api, other)
    cross = await api.get(
        f"/v1/projects/{other.id}/knowledgebases/{other_kb}/datasets/{dataset['id']}/chunks",
        headers=other.auth,
    )
    assert cross.status_code == 404


async def test_recall_on_real_documents_with_the_local_model(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    """The labelled set through the whole pipeline: upload (md, PDF, DOCX), parse, chunk at
    500/50, embed with all-MiniLM-L6-v2, query over HTTP."""
    async with app_client(settings, store, model, LocalEmbedder()) as api:
        kb = await create_base(api, project, embeddingModelName="all-minilm-l6-v2")
        files = {
            "restaurant.md": (DATA / "restaurant.md").read_bytes(),
            "thermostat.pdf": make_pdf((DATA / "thermostat.txt").read_text()),
            "travel_policy.docx": make_docx((DATA / "travel_policy.txt").read_text()),
        }
        for name, data in files.items():
            await upload(api, project, kb, name, data)
        datasets = await settled(api, project, kb, 3)
        assert all(d["isParsed"] for d in datasets)
        source = {d["id"]: d["filename"] for d in datasets}
        doc_of = {
            "restaurant.md": "restaurant.md",
            "thermostat.pdf": "thermostat.txt",
            "travel_policy.docx": "travel_policy.txt",
        }
        chunk_doc: dict[str, str] = {}
        for dataset_id, filename in source.items():
            for chunk in (
                await api.get(
                    f"/v1/projects/{project.id}/knowledgebases/{kb}/datasets/{dataset_id}/chunks",
                    headers=project.auth,
                )
            ).json():
                chunk_doc[chunk["id"]] = doc_of[filename]
        labelled = queries()
        rankings = []
        for query in labelled:
            found = (
                await api.get(
                    f"/v1/projects/{project.id}/knowledgebases/{kb}/query",
                    headers=project.auth,
                    params={"q": query.q, "topK": 5},
                )
            ).json()
            rankings.append([(chunk_doc[c["id"]], c["content"]) for c in found])
    scores = score(rankings, labelled)
    assert scores.recall[1] >= 0.8, scores.line()
    assert scores.recall[3] >= 0.9, scores.line()
    assert scores.recall[5] >= 0.95, scores.line()


async def test_search_knowledge_base_enabled_gives_every_node_the_projects_knowledge(
    settings: Settings, store: Store, model: ScriptedModel, project: Project
) -> None:
    """``searchKnowledgeBaseEnabled`` on the agent: a node that names no knowledge base still
    gets the project's passages for the user's words (and the trace says which); off, it
    gets none."""
    async with app_client(settings, store, model, LocalEmbedder()) as api:
        await _search_everywhere(api, project, model)


async def _search_everywhere(api: httpx.AsyncClient, project: Project, model: ScriptedModel) -> None:
    kb = await create_base(api, project, embeddingModelName="all-minilm-l6-v2")
    await upload(api, project, kb, "wine.txt", b"The corkage fee is fifteen euros per bottle of wine.")
    await settled(api, project, kb, 1)
    url = f"/v1/projects/{project.id}/chat/completions"

    async def turn(session: str) -> dict[str, Any]:
        model.push(Reply("Fifteen euros."))
        sent = await api.post(
            url,
            headers={**project.auth, "X-Session-ID": session},
            json={"messages": [{"role": "user", "content": "what is the corkage fee per bottle of wine"}]},
        )
        assert sent.status_code == 200, sent.text
        read = await api.get(f"/v1/projects/{project.id}/sessions/{session}", headers=project.auth)
        return dict(read.json()["turns"][0]["trace"])

    assert (await turn("off"))["knowledge"] == []
    saved = await api.patch(
        f"/v1/projects/{project.id}/agent", headers=project.auth, json={"searchKnowledgeBaseEnabled": True}
    )
    assert saved.status_code == 200, saved.text
    [record] = (await turn("on"))["knowledge"]
    assert record["knowledgeBaseId"] is None and record["knowledgeBaseIds"] == [kb]
    assert len(record["chunks"]) == 1 and "error" not in record
    reply_prompt = model.calls[-1].messages  # type: ignore[union-attr]
    assert any("corkage fee is fifteen euros" in (m.content or "") for m in reply_prompt)
