"""Embedding models: the local default (all-MiniLM-L6-v2 in numpy) or an OpenAI-compatible endpoint.

Why the default is all-MiniLM-L6-v2: on the labelled set of ``tests/knowledge`` (30
paraphrased questions over three documents) it ranked the right chunk first 90% of the
time and in the top 3 every time at Pathors' 500/50 chunking, against 80% / 90% for
WordLlama and 63% / 80% for BM25 (``bench/knowledge_embeddings.py``). It runs offline from
a PyPI package, in numpy, without torch (see :mod:`pathweaver.knowledge.minilm`).

A knowledge base names its model (``embeddingModelName``). :class:`Embedders` decides what
serves it: the local model for its own name, and for any other name the configured
OpenAI-compatible endpoint (``/embeddings``) when there is one, else the local model. The
name of what actually embedded is stored with every vector (:attr:`Embedder.name`), so
vectors of different models are never compared.

Every embedder returns float32 rows of unit length, so a dot product is the cosine.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Protocol

import httpx
import numpy as np
import numpy.typing as npt

from pathweaver.errors import EmbeddingError
from pathweaver.knowledge import minilm

Vectors = npt.NDArray[np.float32]
LOCAL_MODEL = minilm.NAME
#: Names Pathors documents; served by the endpoint when one is configured, else locally.
PATHORS_MODELS = ("text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large")


class Embedder(Protocol):
    name: str
    """What embeds, as stored with the vectors (``all-minilm-l6-v2``, ``openai:text-embedding-3-small``)."""

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 vectors, one row per text. Raises :class:`EmbeddingError`."""
        ...


def normalised(matrix: npt.NDArray[np.floating]) -> Vectors:
    matrix = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


class LocalEmbedder:
    """all-MiniLM-L6-v2 in numpy, loaded on first use, run in a worker thread."""

    name = LOCAL_MODEL

    def __init__(self, batch_size: int = 16):
        self.batch_size = batch_size
        self._model: minilm.MiniLM | None = None
        self._lock = threading.Lock()

    def model(self) -> minilm.MiniLM:
        """The loaded model (loads it, about half a second, the first time). Thread-safe."""
        with self._lock:
            if self._model is None:
                try:
                    self._model = minilm.MiniLM()
                except minilm.ModelMissing as exc:
                    raise EmbeddingError(str(exc)) from None
            return self._model

    def embed_sync(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, minilm.DIMENSION), dtype=np.float32)
        return self.model().embed(texts, batch_size=self.batch_size)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.embed_sync, texts)


class EndpointEmbedder:
    """An OpenAI-compatible ``POST {base_url}/embeddings``, in batches. Operator-configured."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 64,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"openai:{model}"
        self.api_key = api_key
        self.timeout = timeout
        self.batch_size = batch_size
        self.transport = transport

    async def embed(self, texts: Sequence[str]) -> Vectors:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        rows: list[list[float]] = []
        async with httpx.AsyncClient(
            timeout=self.timeout, transport=self.transport, trust_env=False
        ) as client:
            for begin in range(0, len(texts), self.batch_size):
                batch = list(texts[begin : begin + self.batch_size])
                rows.extend(await self._batch(client, batch, headers))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return normalised(np.asarray(rows, dtype=np.float32))

    async def _batch(
        self, client: httpx.AsyncClient, batch: list[str], headers: dict[str, str]
    ) -> list[list[float]]:
        try:
            response = await client.post(
                self.url, json={"model": self.model, "input": batch}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"the embeddings endpoint failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise EmbeddingError(
                f"the embeddings endpoint answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = [[float(x) for x in item["embedding"]] for item in data]
        except (ValueError, KeyError, TypeError):
            raise EmbeddingError("the embeddings endpoint answered an unexpected body") from None
        if len(vectors) != len(batch) or len({len(v) for v in vectors}) != 1:
            raise EmbeddingError("the embeddings endpoint answered the wrong number or shape of vectors")
        return vectors


class Embedders:
    """Chooses the embedder for a knowledge base's model name (one instance per application)."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        local: Embedder | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = timeout
        self.local: Embedder = local or LocalEmbedder()
        self.transport = transport

    def default_model(self) -> str:
        """The model name a knowledge base gets when it names none (the local model's)."""
        return self.local.name

    def for_model(self, model_name: str) -> Embedder:
        if model_name == self.local.name or not self.base_url:
            return self.local
        return EndpointEmbedder(
            self.base_url, model_name, api_key=self.api_key, timeout=self.timeout, transport=self.transport
        )


def embedders_from_settings(settings: object) -> Embedders:
    """The embedders the settings describe (``embedding_*``; local only when unset)."""
    key = getattr(settings, "embedding_api_key", None)
    secret = getattr(key, "get_secret_value", None)
    return Embedders(
        base_url=getattr(settings, "embedding_base_url", None),
        api_key=secret() if callable(secret) else key,
        timeout=float(getattr(settings, "embedding_timeout", 30.0)),
    )
