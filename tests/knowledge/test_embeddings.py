"""Choosing the embedder, and the OpenAI-compatible endpoint (through httpx.MockTransport)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from pathweaver.errors import EmbeddingError
from pathweaver.knowledge.embeddings import Embedders, EndpointEmbedder, LocalEmbedder


def endpoint(handler: object) -> httpx.MockTransport:
    return httpx.MockTransport(handler)  # type: ignore[arg-type]


async def test_the_endpoint_is_called_in_batches_and_vectors_are_normalised() -> None:
    seen: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append({"url": str(request.url), "auth": request.headers.get("authorization"), **body})
        data = [{"index": i, "embedding": [3.0, 4.0]} for i in reversed(range(len(body["input"])))]
        return httpx.Response(200, json={"data": data})

    embedder = EndpointEmbedder(
        "http://embed.test/v1/",
        "text-embedding-3-small",
        api_key="k",
        batch_size=2,
        transport=endpoint(answer),
    )
    vectors = await embedder.embed(["a", "b", "c"])
    assert vectors.shape == (3, 2) and np.allclose(vectors, [[0.6, 0.8]] * 3)
    assert [s["input"] for s in seen] == [["a", "b"], ["c"]]
    assert seen[0]["url"] == "http://embed.test/v1/embeddings" and seen[0]["auth"] == "Bearer k"
    assert seen[0]["model"] == "text-embedding-3-small" and embedder.name == "openai:text-embedding-3-small"


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(200, text="not json"), "unexpected body"),
        (httpx.Response(200, json={"data": []}), "wrong number"),
    ],
)
async def test_endpoint_failures_are_embedding_errors(response: httpx.Response, message: str) -> None:
    embedder = EndpointEmbedder("http://embed.test/v1", "m", transport=endpoint(lambda request: response))
    with pytest.raises(EmbeddingError, match=message):
        await embedder.embed(["a"])


def test_which_embedder_serves_a_model_name() -> None:
    local = LocalEmbedder()
    offline = Embedders(local=local)
    assert (
        offline.for_model("text-embedding-3-small") is local
    )  # no endpoint: the local model serves every name
    assert offline.default_model() == "all-minilm-l6-v2"
    online = Embedders(base_url="http://embed.test/v1", local=local)
    assert online.for_model("all-minilm-l6-v2") is local
    chosen = online.for_model("text-embedding-3-small")
    assert isinstance(chosen, EndpointEmbedder) and chosen.model == "text-embedding-3-small"
