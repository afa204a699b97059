"""Attribute and span names, as plain string constants.

The OpenTelemetry GenAI and MCP conventions moved to `open-telemetry/semantic-conventions-genai`
and the constants shipped on PyPI are marked deprecated, so we keep our own copy of the few names
we use. The `mcproute.*` names are our routing-decision vocabulary: no convention covers routing
yet, so these names are chosen once and used everywhere (spans, JSONL export, `mcproute traces`).
Renaming one is a breaking change for everyone's saved traces and dashboards: add, don't rename.
"""

from __future__ import annotations

from typing import Final

# ---------------------------------------------------------------- GenAI (OTel semconv)
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
# Seconds from the request to the first streamed delta (GenAI semconv, development status).
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
# Content attributes: only recorded when `telemetry.capture_content` is on (and dropped by the
# redacting exporter otherwise, as a second line of defence).
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
# The routed step's request text on the route span (bounded), so `mcproute traces` can tell the story.
STEP_TEXT: Final = "mcproute.step.text"
CONTENT_ATTRIBUTES: Final = frozenset(
    {GEN_AI_INPUT_MESSAGES, GEN_AI_OUTPUT_MESSAGES, GEN_AI_TOOL_CALL_ARGUMENTS, GEN_AI_TOOL_CALL_RESULT, STEP_TEXT}
)

OP_CHAT: Final = "chat"
OP_EXECUTE_TOOL: Final = "execute_tool"

# ---------------------------------------------------------------- MCP / JSON-RPC / general
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_SESSION_ID: Final = "mcp.session.id"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
METHOD_TOOLS_CALL: Final = "tools/call"

# ---------------------------------------------------------------- mcproute: the decision
STEP_ID: Final = "mcproute.step.id"
DECISION_TOOL: Final = "mcproute.decision.tool"
DECISION_TOOL_SCORE: Final = "mcproute.decision.tool.score"
DECISION_TIER: Final = "mcproute.decision.tier"
DECISION_MODEL: Final = "mcproute.decision.model"
DECISION_ALTERNATIVES: Final = "mcproute.decision.alternatives"  # bounded JSON [[name, score], ...]
DECISION_MODEL_ALTERNATIVES: Final = "mcproute.decision.model_alternatives"  # bounded JSON
DECISION_SIGNALS: Final = "mcproute.decision.signals"  # bounded JSON {name: value}
DECISION_REASONING_SCORE: Final = "mcproute.decision.reasoning_score"
DECISION_REASON: Final = "mcproute.decision.reason"
DECISION_THRESHOLD: Final = "mcproute.decision.threshold"
DECISION_LATENCY_MS: Final = "mcproute.decision.latency_ms"  # the router's own compute time
DECISION_SOURCE: Final = "mcproute.decision.source"  # "router" | "client" (a proxied call the client chose)
POLICY_VERSION: Final = "mcproute.policy.version"
STICKY_HELD: Final = "mcproute.sticky.held"
STICKY_REASON: Final = "mcproute.sticky.reason"

# ---------------------------------------------------------------- mcproute: execution
# The reply cache (runtime/reply_cache.py), on the route span.
CACHE_HIT: Final = "mcproute.cache.hit"  # bool: the reply came from the cache (no provider call)
CACHE_KIND: Final = "mcproute.cache.kind"  # exact | similar
CACHE_SIMILARITY: Final = "mcproute.cache.similarity"  # cosine of the step vectors (1.0 for exact)
CACHE_SAVED_USD: Final = "mcproute.cache.saved_usd"  # what the reused answer cost when it was made
CACHE_AGE_S: Final = "mcproute.cache.age_s"  # seconds since the reused answer was stored
CACHE_STORED: Final = "mcproute.cache.stored"  # bool: this step's answer was stored
CACHE_BYPASS: Final = "mcproute.cache.bypass"  # why the cache was not read: no-cache | no-store | temperature
COST_USD: Final = "mcproute.cost.usd"  # one provider attempt (chat span) or a whole step (route span)
CLIENT: Final = "mcproute.client"  # the authenticated principal (a client name from `clients:`, never its key)
SERVER: Final = "mcproute.server"  # the downstream MCP server's configured name
DOWNSTREAM_TOOL: Final = "mcproute.downstream.tool"  # the tool's name at the downstream (un-namespaced)
DEPLOYMENT: Final = "mcproute.deployment"  # which key/endpoint of a logical model served the attempt
ATTEMPT: Final = "mcproute.attempt"  # 1-based attempt number within a step
RETRY_AFTER_S: Final = "mcproute.retry_after_s"  # what a 429 asked us to wait
FALLBACK_FROM: Final = "mcproute.fallback.from"  # the model this attempt falls back from
CIRCUIT_STATE: Final = "mcproute.circuit.state"  # "closed" | "open" | "half_open" when the attempt started
TOOL_IS_ERROR: Final = "mcproute.tool.is_error"  # the downstream answered with isError

# ---------------------------------------------------------------- tool-definition pins (gateway/pin_guard.py)
PINS_SPAN_NAME: Final = (
    "mcproute.pins"  # one INTERNAL span per catalogue sync that pinned, changed or flagged something
)
PINS_NEW: Final = "mcproute.pins.new"  # int: tools pinned for the first time
PINS_CHANGED: Final = "mcproute.pins.changed"  # int: tools whose definition differs from its pin
PINS_WITHHELD: Final = "mcproute.pins.withheld"  # ["server/tool", ...] withheld until approved
TOOLS_FLAGGED: Final = "mcproute.tools.flagged"  # ["server/tool: flag,flag", ...]
PIN_EVENT_NEW: Final = "mcproute.pin.new"
PIN_EVENT_CHANGED: Final = "mcproute.pin.changed"
PIN_EVENT_FLAGGED: Final = "mcproute.tool.flagged"
PIN_FIELDS: Final = "mcproute.pin.fields"  # ["description", "input schema", ...]
PIN_ACTION: Final = "mcproute.pin.action"  # withheld | served | re-pinned
PIN_POLICY: Final = "mcproute.pin.policy"  # block | warn | accept
PIN_OLD_HASH: Final = "mcproute.pin.old_hash"
PIN_NEW_HASH: Final = "mcproute.pin.new_hash"
PIN_SUMMARY: Final = "mcproute.pin.summary"  # "description +1/-0 lines, ..."
PIN_DIFF: Final = "mcproute.pin.diff"  # bounded unified diff
PIN_TOOLS: Final = "mcproute.pin.tools"  # tools named by one event
TOOL_FLAGS: Final = "mcproute.tool.flags"

# ---------------------------------------------------------------- span names and sources
ROUTE_SPAN_NAME: Final = "mcproute.route"  # low-cardinality on purpose: Jaeger groups by operation name
CHAT_SPAN_PREFIX: Final = "chat"
TOOLS_CALL_SPAN_PREFIX: Final = "tools/call"
TRACER_NAME: Final = "mcproute"
SOURCE_ROUTER: Final = "router"
SOURCE_CLIENT: Final = "client"

# Link attribute naming why two traces are linked.
LINK_RELATION: Final = "mcproute.link.relation"
LINK_PREVIOUS_STEP: Final = "previous_step"
LINK_SHADOW_OF: Final = "shadow_of"  # a mcproute.shadow span -> the route span of the step it shadowed

# ---------------------------------------------------------------- shadow traffic (runtime/shadow.py)
SHADOW_SPAN_NAME: Final = "mcproute.shadow"
SHADOW_STATUS: Final = "mcproute.shadow.status"  # compared | over_budget | failed | no_model
SHADOW_TIER: Final = "mcproute.shadow.tier"  # the tier the shadow call went to
SHADOW_MODEL: Final = "mcproute.shadow.model"
SHADOW_LIVE_TIER: Final = "mcproute.shadow.live.tier"  # the tier that answered the live step
SHADOW_LIVE_MODEL: Final = "mcproute.shadow.live.model"
SHADOW_LIVE_TOOL: Final = "mcproute.shadow.live.tool"
SHADOW_TOOL: Final = "mcproute.shadow.tool"
SHADOW_SAME_TOOL: Final = "mcproute.shadow.same_tool"
SHADOW_ARGS_EQUAL: Final = "mcproute.shadow.args_equal"
SHADOW_ARGS_EQUIVALENT: Final = "mcproute.shadow.args_equivalent"
SHADOW_AGREEMENT: Final = "mcproute.shadow.agreement"  # token-set F1 of the two answers' texts
SHADOW_JUDGE_LIVE: Final = "mcproute.shadow.judge.live"  # the judge's score of the live answer, 0..1
SHADOW_JUDGE_SHADOW: Final = "mcproute.shadow.judge.shadow"
SHADOW_RESERVED_USD: Final = "mcproute.shadow.reserved_usd"  # the bound reserved against the daily cap
