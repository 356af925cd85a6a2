"""Check a real answer against what ``/openapi.json`` declares for its operation.

The response models are documentation only (``api/openapi.py``), so tests that make real
requests hold them to what the handlers send: ``assert_documented(client, "get",
"/v1/projects/{projectId}/agent", response)`` validates the body against the schema the
document declares for that operation and the answer's status, ``$ref``s resolved.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


async def assert_documented(
    client: httpx.AsyncClient, method: str, path: str, response: httpx.Response
) -> None:
    """``response`` (to ``method`` on the path template ``path``) matches its declared schema."""
    doc = await document(client)
    operation = doc["paths"][path][method.lower()]
    declared = operation["responses"].get(str(response.status_code))
    assert declared is not None, f"{method.upper()} {path} does not declare {response.status_code}"
    media = response.headers.get("content-type", "").split(";")[0].strip()
    content = declared.get("content") or {}
    assert media in content, f"{method.upper()} {path} {response.status_code} does not declare {media!r}"
    schema = content[media].get("schema") or {}
    assert set(schema) - {"title", "description"}, f"{method.upper()} {path}: no schema declared"
    if media != "application/json":
        return
    wrapped = {**schema, "components": doc.get("components", {})}
    errors = sorted(
        jsonschema.Draft202012Validator(wrapped).iter_errors(response.json()), key=lambda e: list(e.path)
    )
    assert not errors, f"{method.upper()} {path}: " + "; ".join(
        f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5]
    )
