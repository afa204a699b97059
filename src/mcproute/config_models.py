"""`models.<name>`: one logical model, its deployments, prices and capabilities."""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import Field

from mcproute._config_model import ConfigModel as _Model


class Price(_Model):
    """US dollars per one million tokens."""

    input: float = Field(
        default=0.0, ge=0, description="USD per million prompt tokens; used for the cost on spans and traces"
    )
    output: float = Field(default=0.0, ge=0, description="USD per million completion tokens")
    cached_input: float | None = Field(default=None, ge=0, description="default: same as input")


class Capabilities(_Model):
    tools: bool = Field(default=True, description="false: the model is skipped for requests that carry tools")
    reasoning: bool = Field(
        default=False,
        description="a reasoning model: OpenAI gets reasoning_effort and max_completion_tokens (never "
        "temperature); Anthropic gets the thinking budget",
    )


class Deployment(_Model):
    """One key or endpoint serving a logical model."""

    base_url: str | None = Field(
        default=None, description="this deployment's API base URL; default: the model's base_url"
    )
    api_key: str | None = Field(
        default=None, description="this deployment's key, usually ${VAR}; default: the model's api_key"
    )
    model: str | None = Field(default=None, description="the provider's model id here; default: the model's model")
    weight: float = Field(default=1.0, gt=0, description="relative share of calls this deployment gets while healthy")


class ModelConfig(_Model):
    provider: Literal["openai", "anthropic", "scripted"] = Field(
        description="wire protocol: 'openai' (Chat Completions, also for compatible servers via base_url), 'anthropic' (Messages) "
        "or 'scripted' (canned replies from `script`, for tests and offline demos)"
    )
    model: str = Field(default="", description="the provider's model id; default: this entry's name")
    tier: Literal["reasoning", "fast"] = Field(
        description="the tier this model serves when the router (or a request for the tier) picks it"
    )
    base_url: str | None = Field(default=None, description="API base URL; default: the provider's public API")
    api_key: str | None = Field(
        default=None,
        description='API key, usually "${VAR}"; if the variable is missing the model is unavailable '
        "(named in status) and the other models still serve",
    )
    price: Price = Field(default_factory=Price, description="token prices for the cost recorded per call")
    context_window: int = Field(
        default=128_000, gt=0, description="context length in tokens; accepted and validated, not yet used by routing"
    )
    capabilities: Capabilities = Field(default_factory=Capabilities, description="what the model can do")
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        default=None, description="OpenAI reasoning models: the effort sent when the request gives none"
    )
    thinking_budget: int | None = Field(default=None, gt=0, description="Anthropic thinking budget tokens")
    deployments: list[Deployment] = Field(
        default_factory=list,
        description="several keys or endpoints for this model, balanced by "
        "reliability.balancing; default: one, from the fields above",
    )
    script: list[Any] | str | None = Field(
        default=None, description="scripted provider only: a list of replies, or 'module:function'"
    )
    timeout: float = Field(default=60.0, gt=0, description="seconds one provider call may take")


# The names a request may use instead of a model's: `auto` (the router chooses) and each tier.
# `/v1/models` lists them first (openai_api/wire.py; a test keeps the two the same).
TIERS: tuple[str, ...] = typing.get_args(ModelConfig.model_fields["tier"].annotation)
ROUTED_MODEL_NAMES: tuple[str, ...] = ("auto", *TIERS)
