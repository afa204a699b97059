"""Secrets never appear in anything exported: a run with secrets in the environment, scanned byte
by byte (OTLP request bodies and headers, the JSONL file, log output)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from mcp import Client

from mcproute.config import parse_config
from mcproute.errors import ProviderServerError
from mcproute.telemetry import semconv as sc, spans
from mcproute.telemetry.redact import REDACTED, Redactor
from mcproute.telemetry.setup import setup
from otlp_receiver import otlp_receiver
from telemetry_steps import downstream_params, gateway_server

API_KEY = "sk-test-4f9c2b7e1d3a5c6b8e0f2a4c6e8b0d2f"
HEADER_TOKEN = "tok_9d8c7b6a5f4e3d2c1b0a"
ENV_SECRETS = {"PROVIDER_KEY": API_KEY, "DOWN_TOKEN": HEADER_TOKEN}


def _config(tmp_path: Path, *, capture_content: bool, exporter: str) -> str:
    return f"""
data_dir: {tmp_path / "data"}
telemetry:
  exporter: {exporter}
  capture_content: {str(capture_content).lower()}
  service_name: mcproute-redact
servers:
  down:
    url: http://127.0.0.1:9/mcp
    headers:
      Authorization: Bearer ${{DOWN_TOKEN}}
models:
  quick:
    provider: openai
    model: gpt-test
    tier: fast
    api_key: ${{PROVIDER_KEY}}
"""


def _leak_everywhere(span_ctx: str) -> None:
    """Put the secrets where careless code would: attributes, events, exception text, status."""
    with spans.route_span("conv-secret", "s1") as route:
        route.set_attribute("http.request.header.authorization", f"Bearer {HEADER_TOKEN}")
        route.set_attribute("mcproute.debug.note", f"called with key {API_KEY} and {span_ctx}")
        route.add_event("provider.request", {"headers": json.dumps({"Authorization": f"Bearer {API_KEY}"})})
        try:
            with spans.chat_span("gpt-test", "openai"):
                raise ProviderServerError(f"502 from upstream; sent x-api-key={API_KEY}", status=502)
        except ProviderServerError:
            pass
    logging.getLogger("mcproute.test").warning("retrying with Authorization: Bearer %s", HEADER_TOKEN)


@pytest.mark.anyio
async def test_no_secret_in_any_exported_byte(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with otlp_receiver() as rx:
        loaded = parse_config(
            _config(tmp_path, capture_content=True, exporter="jsonl"),
            source=str(tmp_path / "servers.yaml"),
            environ=ENV_SECRETS,
        )
        assert {API_KEY, HEADER_TOKEN} <= loaded.secrets
        # Two pipelines in one run: OTLP (env takes over) and then the default JSONL file.
        for environ in ({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url}, {}):
            with setup(None, loaded, environ=environ) as handle:
                _leak_everywhere("ctx")
                async with Client(downstream_params(None)) as down:
                    gw = gateway_server(down, rx.url, provider_headers={"Authorization": f"Bearer {API_KEY}"})
                    async with Client(gw, mode="legacy") as up:
                        await up.call_tool(
                            "step", {"text": f"my key is {API_KEY}", "conversation_id": "conv-secret", "step_id": "s2"}
                        )
        assert handle.choice.exporter == "jsonl"
        jsonl = loaded.data_path("traces.jsonl").read_bytes()

    otlp_bodies = [b for b in rx.raw if b"conv-secret" in b]
    assert otlp_bodies and b"conv-secret" in jsonl  # the run exported something to scan
    # Every OTLP export (headers and body) is telemetry; the provider's own requests are not in rx.raw.
    telemetry_bytes = b"".join(rx.raw)
    assert (
        rx.chat_headers and rx.chat_headers[0]["authorization"] == f"Bearer {API_KEY}"
    )  # the provider did get its key
    for blob, where in ((telemetry_bytes, "OTLP export"), (jsonl, "JSONL file"), (caplog.text.encode(), "logs")):
        for secret in (API_KEY, HEADER_TOKEN):
            assert secret.encode() not in blob, f"{secret[:6]}… leaked into the {where}"
    # And the redaction marker is where the secrets were (proves they flowed through the pipeline).
    lines = [json.loads(x) for x in jsonl.splitlines()]
    route = next(x for x in lines if x["name"] == sc.ROUTE_SPAN_NAME and x["attributes"][sc.STEP_ID] == "s1")
    assert route["attributes"]["http.request.header.authorization"] == REDACTED
    assert REDACTED in route["attributes"]["mcproute.debug.note"]
    chat = next(x for x in lines if x["name"] == "chat gpt-test" and x["status"]["code"] == "ERROR")
    assert chat["attributes"][sc.ERROR_TYPE] == "server_error"
    assert any(REDACTED in json.dumps(e) for e in chat["events"])
    # capture_content was on: the prompt is kept, with the key scrubbed out of it.
    content = next(x for x in lines if sc.GEN_AI_INPUT_MESSAGES in x["attributes"])
    assert (
        "my key is" in content["attributes"][sc.GEN_AI_INPUT_MESSAGES]
        and REDACTED in content["attributes"][sc.GEN_AI_INPUT_MESSAGES]
    )
    assert REDACTED in caplog.text


@pytest.mark.anyio
async def test_content_is_dropped_unless_capture_is_on(tmp_path: Path) -> None:
    loaded = parse_config(
        _config(tmp_path, capture_content=False, exporter="jsonl"),
        source=str(tmp_path / "servers.yaml"),
        environ=ENV_SECRETS,
    )
    with setup(None, loaded, environ={}):
        assert spans.capture_content() is False
        with spans.chat_span("gpt-test", "openai") as chat:
            spans.record_content(chat, input_messages='[{"role":"user","content":"private words"}]')
            # Even code that bypasses record_content cannot export content with capture off.
            chat.set_attribute(sc.GEN_AI_OUTPUT_MESSAGES, "private reply")
    text = loaded.data_path("traces.jsonl").read_text()
    assert "chat gpt-test" in text
    assert "private words" not in text and "private reply" not in text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer abcdefghijklmnop", "Authorization: "),
        ("key sk-ant-api03-abcdefghijklmnopqrstuv in text", "key "),
        ('{"api_key": "hunter2hunter2"}', '{"api_key": "'),
        ("password=correcthorse battery", "battery"),
        ("input_tokens=12 and a token count", "input_tokens=12 and a token count"),
    ],
)
def test_redactor_patterns(text: str, kept: str) -> None:
    out = Redactor().scrub(text)
    assert kept in out
    if out != text:
        assert REDACTED in out


def test_short_env_values_are_only_redacted_as_whole_values() -> None:
    r = Redactor({"8080", "verylongsecretvalue"})
    assert r.scrub("8080") == REDACTED
    assert r.scrub("listening on 8080") == "listening on 8080"
    assert r.scrub("x verylongsecretvalue y") == f"x {REDACTED} y"
    assert r.value("gen_ai.usage.input_tokens", 5) == 5
    assert r.value("http.request.header.x-api-key", "anything") == REDACTED
