"""A real load balancer (nginx, Debian package) round-robins over 3 `mcproute serve --transport http`
processes sharing one real redis-server, with no affinity and keep-alive off, so one
conversation's steps land on different replicas.

- 20 steps of one conversation through nginx route exactly as the same 20 steps sent to one
  replica (tier, model, tool, sticky held/reason), and more than one replica served them.
- SIGKILL of a replica mid-conversation loses no recorded step (the store is read back), and the
  client's next request succeeds: nginx's `proxy_next_upstream error` passes it to a live replica.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from mcproute.state.redis_store import RedisStore
from nginx_fixture import Nginx, nginx
from redis_fixture import RedisServer
from runtime_support import EASY, HARD, config_dict
from scaleout_support import MODERN, Served, run_step_body, serve, status

# Switches tier both ways, so the sticky hold and its release are both exercised.
TEXTS = [HARD, EASY, EASY, EASY, HARD, EASY, EASY, HARD, EASY, EASY] * 2
KEY = ("tier", "model", "tool", "sticky_held", "sticky_reason")


class Cluster:
    def __init__(self, replicas: list[Served], lb: Nginx, redis_url: str, prefix: str) -> None:
        self.replicas, self.lb, self.redis_url, self.prefix = replicas, lb, redis_url, prefix


@contextmanager
def behind_nginx(tmp_path: Path, redis_server: RedisServer, **extra: Any) -> Iterator[Cluster]:
    """3 replicas (config `extra` added to each) on one Redis key prefix, nginx in front."""
    prefix = redis_server.fresh_prefix()
    with ExitStack() as stack:
        replicas = []
        for n in range(3):
            home = tmp_path / f"replica{n}"
            home.mkdir()
            # The encoder off: it loads in the background, and a replica still loading it would score
            # steps differently from one that has it (a difference of timing, not of sharing).
            cfg = config_dict(home / "data", backend="redis", encoder={"enabled": False}) | extra
            cfg["state"] |= {"url": redis_server.url, "key_prefix": prefix}
            (home / "servers.yaml").write_text(json.dumps(cfg))
            replicas.append(stack.enter_context(serve(home / "servers.yaml", workers=None)))
        upstreams = [r.url.removeprefix("http://") for r in replicas]
        lb = stack.enter_context(nginx(tmp_path / "nginx", upstreams))
        yield Cluster(replicas, lb, redis_server.url, prefix)


@pytest.fixture
def cluster(tmp_path: Path, redis_server: RedisServer) -> Iterator[Cluster]:
    with behind_nginx(tmp_path, redis_server) as c:
        yield c


def step(url: str, i: int, text: str, conversation: str) -> tuple[dict[str, Any], str]:
    """One stateless run_step on a new connection: its result and the replica nginx used."""
    r = httpx.post(f"{url}/mcp", json=run_step_body(i, text, conversation), headers=MODERN, timeout=60)
    assert r.status_code == 200, (i, r.status_code, r.text)
    result = r.json()["result"]
    assert not result.get("isError"), result
    content = result["structuredContent"]
    assert content["recorded"], content
    return content, r.headers.get("x-upstream", "")


def decision(content: dict[str, Any]) -> tuple[Any, ...]:
    return (content["tier"], content["model"], content["tool"], *(content["decision"][k] for k in KEY[3:]))


async def read_back(c: Cluster, conversation: str, step_ids: list[str]) -> tuple[int, int]:
    async with RedisStore(c.redis_url, prefix=c.prefix) as store:
        state = await store.load(conversation)
        assert state is not None
        found = [await store.get_step(s) for s in step_ids]
    return state.step_count, sum(1 for f in found if f is not None and f.conversation_id == conversation)


def test_a_conversation_round_robined_over_3_replicas_routes_as_on_one(cluster: Cluster) -> None:
    one = cluster.replicas[0].url
    alone, spread, served_by, ids = [], [], [], []
    for i, text in enumerate(TEXTS):
        content, _ = step(one, i, text, "alone")
        alone.append(decision(content))
        content, upstream = step(cluster.lb.url, i, text, "spread")
        spread.append(decision(content))
        served_by.append(upstream)
        ids.append(content["step_id"])
    assert spread == alone
    assert {d[0] for d in alone} == {"reasoning", "fast"}  # tiers switched: stickiness was exercised
    assert any(d[3] for d in alone), alone  # and a sticky hold happened
    # Round-robin without affinity: consecutive steps went to different replicas, all three used.
    assert len(set(served_by)) == 3, served_by
    assert all(a != b for a, b in zip(served_by, served_by[1:])), served_by
    # The same through /status: three distinct processes answer behind the one address.
    assert len({status(cluster.lb.url)["process"]["pid"] for _ in range(6)}) == 3
    assert anyio.run(read_back, cluster, "spread", ids) == (len(TEXTS), len(TEXTS))


def test_sigkill_of_a_replica_mid_conversation_loses_no_step_and_the_next_request_succeeds(
    cluster: Cluster,
) -> None:
    ids, served_by = [], []
    for i, text in enumerate(TEXTS[:6]):
        content, upstream = step(cluster.lb.url, i, text, "killed")
        ids.append(content["step_id"])
        served_by.append(upstream)
    # Kill the replica that served the last step (so it has recorded steps), without warning.
    victim = next(r for r in cluster.replicas if r.url.endswith(served_by[-1]))
    pid = status(victim.url)["process"]["pid"]
    os.kill(pid, signal.SIGKILL)
    victim.proc.wait(10)
    for i, text in enumerate(TEXTS[6:], start=6):
        content, upstream = step(cluster.lb.url, i, text, "killed")  # every one succeeds
        ids.append(content["step_id"])
        served_by.append(upstream)
        assert content["decision"]["conversation_id"] == "killed"
    # Round-robin did hand a request to the dead replica; nginx got "connection refused" and
    # passed it on (the X-Upstream header then lists both addresses).
    dead = served_by[5]
    assert any(dead in u and "," in u for u in served_by[6:]), served_by
    assert "Connection refused" in cluster.lb.error_log()
    # Every recorded step is in the store, and the conversation counted each exactly once.
    assert anyio.run(read_back, cluster, "killed", ids) == (len(TEXTS), len(TEXTS))
