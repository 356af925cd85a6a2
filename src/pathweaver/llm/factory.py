"""Which model a Pathweaver process talks to, decided once, from the settings.

The rule, first match wins:

1. ``PATHWEAVER_FAKE_MODEL`` (``serve --fake``): the deterministic :class:`ScriptedModel`;
   no network, no weights.
2. ``PATHWEAVER_LLM_BASE_URL`` set: :class:`OpenAICompatModel` on that upstream, with
   ``PATHWEAVER_LLM_MODEL`` (required) and ``PATHWEAVER_LLM_API_KEY`` (optional: local
   servers such as Ollama need none).
3. Otherwise the embedded :class:`LocalModel`: llama.cpp in-process (the ``local`` extra),
   weights named or located by ``PATHWEAVER_LOCAL_MODEL`` (see :mod:`pathweaver.llm.weights`).

Misconfiguration raises :class:`LLMConfigError` naming the setting to fix, here for what
can be known without I/O to the upstream, and in :func:`prepare_model` for the rest.
"""

from __future__ import annotations

import importlib.util

from pathweaver.config import Settings
from pathweaver.errors import LLMConfigError
from pathweaver.llm.base import Model
from pathweaver.llm.local import LocalModel
from pathweaver.llm.openai_compat import OpenAICompatModel
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.llm.weights import resolve_model_path


def build_model(settings: Settings) -> Model:
    """The model for these settings (see the module docstring for the rule).

    For the embedded model this assembles and verifies the weights file if needed (once;
    about ten seconds for the default model), but does not load it: call
    :func:`prepare_model` at start-up, or the first call loads it.
    """
    if settings.fake_model:
        return ScriptedModel()
    if settings.llm_base_url:
        if not settings.llm_model:
            raise LLMConfigError(
                "PATHWEAVER_LLM_BASE_URL is set but PATHWEAVER_LLM_MODEL is not: "
                "set the model name to send upstream (e.g. gpt-4o-mini, llama3.1)",
                code="model_not_set",
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return OpenAICompatModel(
            settings.llm_base_url,
            key,
            settings.llm_model,
            connect_timeout=settings.llm_connect_timeout,
            first_byte_timeout=settings.llm_first_byte_timeout,
            total_timeout=settings.llm_total_timeout,
            max_retries=settings.llm_max_retries,
            max_connections=settings.llm_max_connections,
            always_stream=settings.llm_upstream_streaming == "always",
        )
    if importlib.util.find_spec("llama_cpp") is None:
        raise LLMConfigError(
            "no model upstream is configured and the embedded model is not installed: install the "
            "'local' extra (pip install 'pathweaver[local]') or set PATHWEAVER_LLM_BASE_URL "
            "and PATHWEAVER_LLM_MODEL",
            code="local_model_unavailable",
        )
    return LocalModel.from_path(
        resolve_model_path(settings),
        context_size=settings.local_model_context,
        threads=settings.local_model_threads,
        queue_limit=settings.local_model_queue,
        seed=settings.local_model_seed,
    )


async def prepare_model(model: Model) -> None:
    """Start-up check: verify an upstream's configuration, or load the embedded weights."""
    if isinstance(model, OpenAICompatModel):
        try:
            await model.check()
        except BaseException:
            await model.aclose()  # the start stops here: no connection left open behind it
            raise
    elif isinstance(model, LocalModel):
        await model.load()
