"""Operational failures of `mcproute serve` are one line that says what to change, not a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_busy_port_is_one_line_naming_the_port_and_the_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "servers.yaml"
    cfg.write_text("servers: {}\n")
    with socket.socket() as holder:  # a real listener holds the port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "mcproute",
                "serve",
                "--config",
                str(cfg),
                "--transport",
                "http",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr and "ExceptionGroup" not in out.stderr
    assert f"port {port}" in lines[0] and "already in use" in lines[0] and "--port" in lines[0]
    assert str(cfg) in lines[0]  # where the configured port lives, too


def test_an_address_that_is_not_ours_names_the_host_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "servers.yaml"
    # A token, so the non-loopback guard lets it reach the bind; 192.0.2.1 (TEST-NET-1) is never local.
    cfg.write_text("servers: {}\ngateway: {http: {token: a-long-enough-token-for-the-test}}\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcproute",
            "serve",
            "--config",
            str(cfg),
            "--transport",
            "http",
            "--host",
            "192.0.2.1",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "192.0.2.1" in lines[0] and "--host" in lines[0], out.stderr
