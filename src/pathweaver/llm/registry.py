"""Which model serves a call: the server's default, or one an agent or a node chose.

Agents and nodes choose with a :class:`~pathweaver.agent.config.ModelChoice`: a ``target``
(an upstream the operator configured in ``PATHWEAVER_LLM_TARGETS``, whose URL and key stay in
the settings) and/or a ``name`` (the model name sent upstream). The node's choice wins over
the agent's; no choice means the default model.

Models for a choice are built on first use and kept (one HTTP connection pool per upstream
and model name), so a turn pays nothing for choosing. A registry built with
:meth:`Models.single` serves every choice with one model: the scripted model of
``serve --fake``, tests, and cassette replays, where the recorded answers are the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pathweaver.agent.config import ModelChoice
from pathweaver.config import LLMTarget, Settings
from pathweaver.errors import LLMConfigError
from pathweaver.llm.base import Model
from pathweaver.llm.openai_compat import OpenAICompatModel, SettingNames

Wrap = Callable[[Model], Model]


def _same(model: Model) -> Model:
    return model


@dataclass(frozen=True, slots=True)
class _Upstream:
    base_url: str
    api_key: str | None
    model: str
    settings: SettingNames


class Models:
    """The default model plus the upstreams agents and nodes may choose."""

    def __init__(
        self,
        default: Model,
        *,
        upstreams: Mapping[str, _Upstream] | None = None,
        default_upstream: _Upstream | None = None,
        build: Callable[[_Upstream, str], Model] | None = None,
        wrap: Wrap = _same,
    ) -> None:
        self.default = wrap(default)
        self._routes = upstreams is not None
        self._upstreams = dict(upstreams or {})
        self._default_upstream = default_upstream
        self._build = build
        self._wrap = wrap
        self._built: dict[tuple[str, str], tuple[Model, Model]] = {}

    @classmethod
    def single(cls, model: Model, *, wrap: Wrap = _same) -> Models:
        """Every choice is served by ``model`` (scripted and replayed runs)."""
        return cls(model, wrap=wrap)

    @classmethod
    def from_settings(cls, settings: Settings, default: Model, *, wrap: Wrap = _same) -> Models:
        """The registry for a server: ``default`` plus ``PATHWEAVER_LLM_TARGETS``.

        With ``PATHWEAVER_FAKE_MODEL`` every choice is served by the scripted default.
        """
        if settings.fake_model:
            return cls.single(default, wrap=wrap)
        upstreams = {name: _target(name, target) for name, target in settings.llm_targets.items()}
        default_upstream = None
        if settings.llm_base_url and settings.llm_model:
            key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
            default_upstream = _Upstream(settings.llm_base_url, key, settings.llm_model, SettingNames())

        def build(upstream: _Upstream, name: str) -> Model:
            return OpenAICompatModel(
                upstream.base_url,
                upstream.api_key,
                name,
                connect_timeout=settings.llm_connect_timeout,
                first_byte_timeout=settings.llm_first_byte_timeout,
                total_timeout=settings.llm_total_timeout,
                max_retries=settings.llm_max_retries,
                max_connections=settings.llm_max_connections,
                always_stream=settings.llm_upstream_streaming == "always",
                settings=upstream.settings,
            )

        return cls(default, upstreams=upstreams, default_upstream=default_upstream, build=build, wrap=wrap)

    @property
    def targets(self) -> list[str]:
        return sorted(self._upstreams)

    def problem(self, choice: ModelChoice | None) -> str | None:
        """Why ``choice`` cannot be served here, or None (also None on a single-model registry)."""
        if choice is None or not self._routes:
            return None
        if choice.target is not None and choice.target not in self._upstreams:
            known = ", ".join(self.targets) or "none are configured"
            return (
                f"model target {choice.target!r} is not configured on this server (targets: {known}); "
                "add it to PATHWEAVER_LLM_TARGETS or choose another"
            )
        if choice.target is None and choice.name and self._default_upstream is None:
            return (
                f"model name {choice.name!r} needs an OpenAI-compatible upstream, but this server "
                "runs the embedded model: name a target from PATHWEAVER_LLM_TARGETS, or set "
                "PATHWEAVER_LLM_BASE_URL"
            )
        return None

    def pick(self, *choices: ModelChoice | None) -> Model:
        """The model for the first choice given (a node's, then the agent's), else the default.

        Raises :class:`LLMConfigError` naming the setting when the choice cannot be served.
        """
        choice = next((c for c in choices if c is not None), None)
        if choice is None or not self._routes or (choice.target is None and choice.name is None):
            return self.default
        problem = self.problem(choice)
        if problem is not None:
            raise LLMConfigError(problem, code="model_target_unknown")
        upstream = self._upstreams[choice.target] if choice.target else self._default_upstream
        assert upstream is not None and self._build is not None  # problem() checked both
        name = choice.name or upstream.model
        if upstream is self._default_upstream and name == upstream.model:
            return self.default
        key = (choice.target or "", name)
        if key not in self._built:
            inner = self._build(upstream, name)
            self._built[key] = (inner, self._wrap(inner))
        return self._built[key][1]

    async def check_targets(self) -> None:
        """Start-up check of every configured target (key, reachability, model listed)."""
        for upstream in self._upstreams.values():
            model = self._build(upstream, upstream.model) if self._build else None
            if isinstance(model, OpenAICompatModel):
                try:
                    await model.check()
                finally:
                    await model.aclose()

    async def aclose(self) -> None:
        """Close the models built for choices (the default belongs to whoever made it)."""
        built, self._built = self._built, {}
        for inner, _ in built.values():
            await inner.aclose()


def _target(name: str, target: LLMTarget) -> _Upstream:
    key = target.api_key.get_secret_value() if target.api_key else None
    return _Upstream(target.base_url, key, target.model, SettingNames.for_target(name))
