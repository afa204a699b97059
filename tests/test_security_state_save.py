"""Issue 14, item 7: when the tool ran but saving the step failed, the client still gets the
tool's result, with a note that the step was not recorded — never a bare internal error — and
the failure is logged once, not as a traceback per request.

The failure is a real SQLite one: the store's own file is capped with `PRAGMA max_page_count`
at its current size, so the next save that needs a page fails with SQLITE_FULL ("database or
disk is full"), exactly what a full disk gives. The steps go through a real gateway over HTTP
(`mcproute__run_step` from the official client) to the real mcp-server-time.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from functools import partial
from pathlib import Path

import anyio
import pytest
from mcp import Client

from mcproute.config import parse_config
from mcproute.gateway.serving import serve_http
from mcproute.runtime import Engine
from mcproute.state.sqlite import SqliteStore
from runtime_support import config_dict


def _fill_to_the_brim(store: SqliteStore) -> int:
    def cap(conn: sqlite3.Connection) -> int:
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return pages

    return store._call(cap)  # noqa: SLF001 - the store's own connection is the one to cap


@pytest.mark.anyio
async def test_a_failed_save_returns_the_tool_result_with_a_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = parse_config(json.dumps(config_dict(tmp_path)), environ={})
    async with Engine(loaded) as engine, anyio.create_task_group() as tg:
        port = await tg.start(partial(serve_http, engine.gateway, loaded.config.gateway.http, port=0))
        url = f"http://127.0.0.1:{port}/mcp"
        store = engine.store
        assert isinstance(store, SqliteStore)
        async with Client(url) as client, Client(url) as other:
            ok = await client.call_tool(
                "mcproute__run_step", {"text": "what time is it in UTC", "conversation_id": "full-1"}
            )
            assert ok.structured_content is not None and ok.structured_content.get("recorded", True) is True
            _fill_to_the_brim(store)
            caplog.clear()
            with caplog.at_level(logging.DEBUG):
                failed = []
                for i in range(40):  # a step row is ~1-2 KB: the last free page space goes within a few steps
                    result = await client.call_tool(
                        "mcproute__run_step", {"text": f"what time is it in UTC ({i})", "conversation_id": "full-1"}
                    )
                    structured = result.structured_content or {}
                    assert str(structured.get("tool")).startswith("time__"), result
                    if not structured.get("recorded", True):
                        failed.append(result)
                    # The tool's own answer is in the result either way, and it is not an error.
                    assert not result.is_error
                    assert any('"timezone"' in getattr(c, "text", "") for c in result.content[1:]), result.content
                # Other clients' calls (not touching the state) are undisturbed meanwhile.
                assert not (await other.call_tool("time__get_current_time", {"timezone": "UTC"})).is_error
            assert len(failed) >= 2, "the capped file never filled up"
            text = failed[0].content[0].text  # type: ignore[union-attr]
            assert (
                "was not recorded" in text
                and "database or disk is full" in text
                and "retrying would run the tool again" in text
            )
            assert failed[0].structured_content["not_recorded"]  # type: ignore[index]
            # Logged once (per minute), one line, no traceback, however many saves failed.
            lines = [r for r in caplog.records if "not recorded" in r.getMessage()]
            assert len(lines) == 1 and lines[0].exc_info is None and lines[0].exc_text is None
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r is not lines[0]]
        tg.cancel_scope.cancel()
