"""Issue 14, item 4: one redaction for everything that leaves the process or is shown to a person.

A real `mcproute serve` child is given secrets three ways: a `${VAR}` passed to a stdio server's
`env:` (which the server then prints on stderr, at start and when it dies mid-call), a literal
`?key=` in a model's `base_url` (which httpx logs at INFO with `-v`), and a `${VAR}` API key. Then
every place a person or client can read is collected — serve's stderr (start-up lines and `-v`
logs), `GET /status`, the error text an MCP client gets, `mcproute tools` (text, `--json`,
`--url`), the JSONL traces — and none may hold any secret, while the text around it is still
there ([REDACTED] where it was) and another server's calls keep working.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mcp import Client

from fakes.llm_server import fake_llm
from mcproute.config import parse_config
from runtime_support import child_env
from security_support import rss_kib, serve_child

REDACTED = "[REDACTED]"

LEAKY = str(Path(__file__).parent / "fixtures" / "leaky_server.py")
STDERR_SECRET = "stderr-secret-7f3a9c1e5b2d4f6a"
QUERY_KEY = "querykey-0c9d8e7f6a5b4c3d"
PROVIDER_KEY = "sk-prov-1a2b3c4d5e6f7a8b9c0d1e2f"
SECRETS = (STDERR_SECRET, QUERY_KEY, PROVIDER_KEY)


def _config(tmp: Path, llm_port: int) -> Path:
    model = {
        "provider": "openai",
        "model": "gpt-fake",
        "api_key": "${PROVIDER_KEY}",
        "base_url": f"http://127.0.0.1:{llm_port}/v1?key={QUERY_KEY}",
    }
    cfg = {
        "data_dir": str(tmp / "data"),
        "telemetry": {"exporter": "jsonl"},
        "reliability": {"backoff_base": 0.05, "backoff_max": 0.5, "max_attempts": 1},
        # No encoder: it loads in the background (~90 MB with its libraries), and on a busy machine
        # it finished between the two RSS readings below, which then measured the model, not a leak.
        "routing": {"encoder": {"enabled": False}},
        "servers": {
            "leaky": {"command": sys.executable, "args": [LEAKY], "env": {"LEAKY_TOKEN": "${LEAK_SECRET}"}},
            "broken": {
                "command": sys.executable,
                "args": [LEAKY, "--fail-start"],
                "env": {"LEAKY_TOKEN": "${LEAK_SECRET}"},
            },
            "time": {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        },
        "models": {"quick": {**model, "tier": "fast"}, "deep": {**model, "tier": "reasoning"}},
    }
    path = tmp / "servers.yaml"
    path.write_text(json.dumps(cfg))
    return path


def _assert_clean(where: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} appears in {where}"
        assert secret[:12] not in text, f"part of {secret!r} appears in {where}"


@pytest.mark.anyio
async def test_secrets_reach_no_reader_of_status_logs_cli_errors_or_traces(tmp_path: Path) -> None:
    env = {"LEAK_SECRET": STDERR_SECRET, "PROVIDER_KEY": PROVIDER_KEY}
    async with fake_llm() as llm:
        config = _config(tmp_path, llm.port)
        with serve_child(config, env=env, args=("-v",)) as (proc, base, stderr):
            async with httpx.AsyncClient(timeout=30) as http, Client(f"{base}/mcp") as client:
                rss_before = rss_kib(proc.pid)
                # The server that died at start, shown in /status; a call to the one that dies mid-call.
                died = await client.call_tool("leaky__die", {})
                assert died.is_error
                died_text = died.content[0].text  # type: ignore[union-attr]
                assert "went away during tools/call" in died_text and REDACTED in died_text
                # Another server's calls are undisturbed.
                for _ in range(3):
                    assert not (await client.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error
                # A model call through the base_url with ?key= (httpx logs the URL at INFO under -v; the
                # query swallows the path, so the fake answers 404, as a real provider would).
                r = await http.post(
                    f"{base}/v1/chat/completions",
                    json={"model": "quick", "messages": [{"role": "user", "content": "hi"}]},
                )
                assert "HTTP 404" in r.text
                status = await http.get(f"{base}/status")
                assert status.status_code == 200
                report = status.json()
                assert REDACTED in report["servers"]["broken"]["reason"]
                # The stderr line is 5,300 bytes; the reason keeps a bounded piece of it.
                assert len(status.content) < 8_000
                assert rss_kib(proc.pid) < rss_before + 50_000  # KiB: no per-line growth from the child's output
            # mcproute tools in its three forms (starting the servers itself, and asking the live gateway).
            outputs = {}
            for extra in ((), ("--json",), ("--url", base)):
                run = subprocess.run(
                    [sys.executable, "-m", "mcproute", "tools", "--config", str(config), *extra],
                    env=child_env(**env),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                outputs[" ".join(extra) or "text"] = run.stdout + run.stderr
        serve_err = stderr.read_text(errors="replace")

    assert (
        "is unhealthy" in serve_err and "HTTP Request: POST" in serve_err
    )  # the start-up line and the -v log were printed
    assert f"key={REDACTED}" in serve_err
    _assert_clean("serve's stderr", serve_err)
    _assert_clean("/status", status.text)
    _assert_clean("the MCP client's error text", died_text)
    _assert_clean("the chat completion answer", r.text)
    for form, out in outputs.items():
        assert "broken" in out and REDACTED in out, (form, out)
        _assert_clean(f"mcproute tools {form}", out)
    traces = tmp_path / "data" / "traces.jsonl"
    assert traces.exists()
    _assert_clean("traces.jsonl", traces.read_text())


def test_the_config_secrets_are_known_to_the_one_redactor() -> None:
    from mcproute.telemetry.redact import Redactor, redactor_for

    loaded = parse_config(
        "gateway: {http: {token: tok-abcdefgh12}}\n"
        "servers:\n"
        "  a: {url: 'http://x/mcp?token=qqqqqqqqq1&page=2', headers: {Authorization: 'Bearer zzzzzzzzzz'}, env: {GITHUB_TOKEN: ghs-literal-1, LANG: C.UTF-8}}\n"
        "models:\n"
        "  m: {provider: openai, tier: fast, base_url: 'http://h/v1?key=kkkkkkkkkk', api_key: '${K}'}\n",
        environ={"K": "k-from-env-value"},
    )
    r = redactor_for(loaded)
    text = "tok-abcdefgh12 qqqqqqqqq1 zzzzzzzzzz ghs-literal-1 kkkkkkkkkk k-from-env-value page=2 C.UTF-8"
    assert r.scrub(text) == " ".join([REDACTED] * 6) + " page=2 C.UTF-8"
    # Secret-named query parameters are redacted even when nobody configured them.
    assert (
        Redactor().scrub("POST http://h/v1?key=abc123/chat&x=1&api_key=zz&sig=q")
        == f"POST http://h/v1?key={REDACTED}&x=1&api_key={REDACTED}&sig={REDACTED}"
    )
    assert Redactor().scrub_json({"a": ["Bearer abcdefghijkl", 3]}) == {"a": [REDACTED, 3]}
