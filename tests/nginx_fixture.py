"""A real nginx (the Debian package) as a round-robin load balancer in front of gateway replicas.

The test writes its own nginx.conf in a temp dir: no daemon, pid/logs/temp files in that dir, no
affinity of any kind, keep-alive off on both sides (so every request opens a new upstream
connection and may reach another replica), and `proxy_next_upstream error timeout` as a real
deployment would: a request whose replica refuses the connection (it died) goes to the next one.

The binary is `nginx` on PATH, /usr/sbin/nginx, or $MCPROUTE_NGINX. `make test` installs the Debian
package when it is missing (scripts/install-debian-peers.sh); when it is still missing the test
FAILS with that instruction instead of skipping, as the redis fixture does.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 0;                # client side: one request per connection
    upstream gateways {{                # round-robin (nginx's default), no ip_hash/hash/sticky
{servers}
        # no `keepalive` here: a fresh upstream connection per request
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;   # the gateway's Host guard checks the client's Host
            proxy_buffering off;                # SSE answers stream through
            proxy_read_timeout 120s;
            proxy_next_upstream error timeout;  # a dead replica's refused connection goes to the next
            add_header X-Upstream $upstream_addr always;  # which replica(s) the request went to
        }}
    }}
}}
"""


def nginx_binary() -> str:
    path = os.environ.get("MCPROUTE_NGINX") or shutil.which("nginx")
    if not path and os.access("/usr/sbin/nginx", os.X_OK):
        path = "/usr/sbin/nginx"
    if not path:
        pytest.fail(
            "nginx is not installed: run `make test` (it installs the Debian package through "
            "scripts/install-debian-peers.sh) or `apt-get install nginx-light`, or set MCPROUTE_NGINX",
            pytrace=False,
        )
    return path


@dataclass
class Nginx:
    url: str
    dir: Path

    def error_log(self) -> str:
        return (self.dir / "error.log").read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nginx(workdir: Path, upstreams: Sequence[str]) -> Iterator[Nginx]:
    """nginx balancing over `upstreams` ("127.0.0.1:port"), until the block ends (SIGQUIT: graceful)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    servers = "\n".join(f"        server {u};" for u in upstreams)
    conf = workdir / "nginx.conf"
    conf.write_text(CONF.format(dir=workdir, servers=servers, port=port))
    binary = nginx_binary()
    cmd = [binary, "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)]
    checked = subprocess.run([*cmd, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    with (workdir / "stderr.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, (workdir / "error.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen within 15 s"
                time.sleep(0.05)
        yield Nginx(f"http://127.0.0.1:{port}", workdir)
    finally:
        if proc.poll() is None:
            proc.send_signal(3)  # SIGQUIT: nginx's graceful shutdown
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
