"""`mcproute tools` flags instruction-like descriptions and judges tools against the pins as the
gateway does; `mcproute pins` refuses what it cannot do with a message that says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from pins_support import CLOCK, ECHO_V1, ECHO_V2, pins_cli, server_entry, write_defs
from runtime_support import child_env, write_config


async def tools_cli(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return await anyio.run_process(
        [sys.executable, "-m", "mcproute", "tools", "--config", str(config), *args],
        env=child_env(PYTHONWARNINGS="ignore"),
        check=False,
    )


@pytest.mark.anyio
async def test_tools_flags_poisoned_descriptions_and_shows_withheld_tools(tmp_path: Path) -> None:
    defs = tmp_path / "tools.json"
    write_defs(defs, ECHO_V2, CLOCK)  # first sight of a poisoned tool: pinned (first use), but flagged
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data", servers={"fx": server_entry(defs, watch=False)})
    done = await tools_cli(config, "--json")
    assert done.returncode == 0, done.stderr.decode()
    rows = {t["name"]: t for t in json.loads(done.stdout)["tools"]}
    assert (
        rows["fx__echo"]["flags"] == ["hidden-tag", "credential-access", "secrecy"] and rows["fx__clock"]["flags"] == []
    )
    table = (await tools_cli(config)).stdout.decode()
    assert "fx__echo (!)" in table and "fx__clock (!)" not in table
    assert "fx__echo: hidden-tag, credential-access, secrecy" in table

    write_defs(defs, ECHO_V1, CLOCK)  # anything but the pinned definition is a change, a cleaner one too
    done = await tools_cli(config, "--json")
    report = json.loads(done.stdout)
    assert "fx__echo" not in {t["name"] for t in report["tools"]}
    assert "mcproute pins approve fx/echo" in report["withheld"]["fx__echo"]
    assert (
        "withheld: fx__echo: tool 'fx__echo' ('echo' of server 'fx') is withheld: server 'fx' changed its description"
        in (await tools_cli(config)).stderr.decode()
    )
    listed = await pins_cli(config, "list")
    assert (
        listed.returncode == 0
        and "changed-pending" in listed.stdout.decode()
        and "1 changed and pending" in listed.stdout.decode()
    )


@pytest.mark.anyio
async def test_pins_commands_refuse_clearly(tmp_path: Path) -> None:
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data", servers={})
    nothing = await pins_cli(config, "list")
    assert nothing.returncode == 0 and "no pins yet" in nothing.stderr.decode()
    bare = await pins_cli(config, "approve")
    assert bare.returncode == 2 and "needs SERVER or SERVER/TOOL" in bare.stderr.decode()
    memory = write_config(tmp_path / "memory.yaml", tmp_path / "data", servers={}, backend="memory")
    refused = await pins_cli(memory, "list")
    assert refused.returncode == 1 and "state.backend is 'memory'" in refused.stderr.decode()

    defs = tmp_path / "tools.json"
    write_defs(defs, ECHO_V1)
    config = write_config(tmp_path / "servers.yaml", tmp_path / "data", servers={"fx": server_entry(defs, watch=False)})
    assert (await tools_cli(config, "--json")).returncode == 0  # pins echo
    unknown = await pins_cli(config, "approve", "fx/nope")
    assert unknown.returncode == 1 and "no pinned tool matches 'fx/nope'" in unknown.stderr.decode()
    idle = await pins_cli(config, "approve", "fx")
    assert idle.returncode == 1 and "nothing to approve" in idle.stderr.decode()
    clean = await pins_cli(config, "diff")
    assert clean.returncode == 0 and clean.stdout.decode().strip() == "no pending changes"


@pytest.mark.anyio
async def test_pins_live_in_redis_with_the_redis_backend(tmp_path: Path, redis_server: Any) -> None:
    """`mcproute tools` pins into Redis, and `mcproute pins approve` on any host re-pins there, where
    every replica reads it."""
    from mcproute.state.redis_store import RedisStore
    from runtime_support import config_dict

    prefix = redis_server.fresh_prefix()
    defs = tmp_path / "tools.json"
    write_defs(defs, ECHO_V1)
    cfg = config_dict(tmp_path / "data", servers={"fx": server_entry(defs, watch=False)})
    cfg["state"] = {"backend": "redis", "url": redis_server.url, "key_prefix": prefix}
    config = tmp_path / "servers.yaml"
    config.write_text(json.dumps(cfg))
    assert (await tools_cli(config, "--json")).returncode == 0  # pins echo (v1)
    write_defs(defs, ECHO_V2)
    assert "fx__echo" in json.loads((await tools_cli(config, "--json")).stdout)["withheld"]
    listed = await pins_cli(config, "list")
    assert listed.returncode == 0 and "changed-pending" in listed.stdout.decode(), listed.stderr.decode()
    approved = await pins_cli(config, "approve", "fx/echo")
    assert approved.returncode == 0, approved.stderr.decode()
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        pins = await store.load_pins()
    assert (
        pins[("fx", "echo")].status == "pinned"
        and pins[("fx", "echo")].definition["description"] == ECHO_V2["description"]
    )
    assert not (tmp_path / "data" / "state.sqlite3").exists()
