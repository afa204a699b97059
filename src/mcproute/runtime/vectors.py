"""`EncoderService`: the engine's sentence encoder, loaded and kept in step with the catalogue
in the background, so the gateway serves (lexically) before any vector exists.

    service = EncoderService(loaded)
    tg.start_soon(service.run, engine.tool_map, lambda: engine.index)  # load, then sync forever
    service.changed()                                                   # the catalogue changed
    vector = service.query_vector(text)                                 # None until loaded

Loading and building the model and encoding the catalogue run in worker threads
(`anyio.to_thread`; ONNX Runtime releases the GIL), so the event loop keeps serving meanwhile.
Tool texts are encoded in chunks, each its own thread call, so shutting down waits for one chunk
at most; the vectors of a chunk are attached as soon as it is done. A step's text is encoded
inline (see `query_vector`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

import anyio
import numpy as np

from mcproute.config import LoadedConfig
from mcproute.router.retrieval_head import Head
from mcproute.router.step import ToolSpec
from mcproute.runtime.tool_examples import TaughtVectors

log = logging.getLogger("mcproute.runtime")
CHUNK = 32  # tool texts per worker-thread call (~0.1 s of model time)


class VectorIndex(Protocol):  # mcproute.router.tools.ToolIndex
    def attach_vectors(
        self,
        vectors: Mapping[str, np.ndarray],
        examples: Mapping[str, np.ndarray] | None = None,
        shipped: Collection[str] = (),
        head: Head | None = None,
    ) -> int: ...
    @property
    def names(self) -> tuple[str, ...]: ...
    @property
    def vector_count(self) -> int: ...


class EncoderService:
    def __init__(self, loaded: LoadedConfig) -> None:
        self.config = loaded.config.routing.encoder
        self.cache_dir: Path | None = loaded.config_relative(self.config.cache_dir) if self.config.cache_dir else None
        self.weights: Path | None = loaded.config_relative(self.config.weights) if self.config.weights else None
        self.encoder: Any = None  # mcproute.encoding.Encoder once loaded
        # off | loading | encoding tools | ready | unavailable
        self.state = "loading" if self.config.enabled else "off"
        self.reason = "" if self.config.enabled else "routing.encoder.enabled is false"
        self.load_seconds = 0.0
        self.tools_total = 0
        self.last_sync: dict[str, float] = {}
        self._changed: anyio.Event | None = None  # made in run(): an Event needs the running loop
        self._query_failed = False
        self._index: Callable[[], VectorIndex] | None = None
        self._examples: TaughtVectors = TaughtVectors()  # the tools.examples in force, encoded
        self._passes_started = self._passes_done = 0  # encoding passes over the catalogue

    # ------------------------------------------------------------ the background task

    async def run(self, tools: Callable[[], Mapping[str, ToolSpec]], index: Callable[[], VectorIndex]) -> None:
        """Load the encoder, then encode the catalogue's tools on every change, until cancelled.
        `index()` is the engine's current index (it may be replaced when the catalogue changes)."""
        if not self.config.enabled:
            return
        self._index = index
        from mcproute.encoding import EncoderUnavailable, default_cache_dir
        from mcproute.encoding.cache import ToolVectorCache

        cache_dir = self.cache_dir or default_cache_dir()
        started = time.perf_counter()
        try:
            # abandon_on_cancel: a first-run build takes seconds; shutting down must not wait for
            # it (the build writes its file atomically, or not at all).
            self.encoder = await anyio.to_thread.run_sync(self._load, cache_dir, abandon_on_cancel=True)
        except Exception as e:  # noqa: BLE001 - EncoderUnavailable, or the OS refusing (no descriptors, disk)
            # Never let the encoder take the gateway down: it serves lexically instead.
            self.state, self.reason = (
                "unavailable",
                str(e) if isinstance(e, EncoderUnavailable) else f"{type(e).__name__}: {e}",
            )
            log.warning("mcproute: the sentence encoder is unavailable, tool retrieval stays lexical: %s", self.reason)
            return
        self.load_seconds = time.perf_counter() - started
        if self.encoder.build_seconds:
            log.info(
                "mcproute: built the encoder %s in %.1f s (cached in %s)",
                self.encoder.model_id,
                self.encoder.build_seconds,
                cache_dir,
            )
        cache = ToolVectorCache(
            cache_dir / "tool-vectors.sqlite3"
        )  # a disk it cannot open: memory only (cache.problem)
        try:
            self.state = "encoding tools"
            while True:
                changed = self._changed = anyio.Event()  # a change from now on triggers another pass
                self._passes_started += 1
                try:
                    await self._sync(cache, tools, index)
                except Exception as e:  # noqa: BLE001 - tools without a vector rank lexically; the next change retries
                    self.reason = f"tool vectors incomplete: {type(e).__name__}: {e}"
                    log.warning("mcproute: %s (those tools rank lexically until the catalogue changes)", self.reason)
                self._passes_done = self._passes_started
                self.state = "ready"
                await changed.wait()
                self.state = "encoding tools"
        finally:
            cache.close()  # no worker thread holds it: run_sync waits for its chunk

    def _load(self, cache_dir: Path) -> Any:
        from mcproute.encoding import load_shared

        return load_shared(
            cache_dir,
            self.weights,
            max_tokens=self.config.max_tool_tokens,
            max_query_tokens=self.config.max_query_tokens,
        )

    async def _sync(
        self, cache: Any, tools: Callable[[], Mapping[str, ToolSpec]], index: Callable[[], VectorIndex]
    ) -> None:
        from mcproute.encoding.texts import tool_text
        from mcproute.runtime.tool_examples import blend

        snapshot = {name: tool_text(spec) for name, spec in tools().items()}
        self.tools_total = len(snapshot)
        started = time.perf_counter()
        counts = {"encoded": 0, "from_disk": 0, "from_memory": 0}
        names = list(snapshot)
        taught = self._examples
        # the examples' classifier over this catalogue's taught tools, fitted once per pass, off the loop
        head = await anyio.to_thread.run_sync(taught.head_for, frozenset(names)) if taught else None
        for i in range(0, len(names), CHUNK):
            chunk = names[i : i + CHUNK]
            got = await anyio.to_thread.run_sync(cache.vectors, self.encoder, [snapshot[n] for n in chunk])
            for k in counts:
                counts[k] += getattr(got, k)
            # Attach only what still describes the tool: the catalogue may have changed meanwhile
            # (then `_changed` is set and the next pass encodes the new text).
            now = {n: tool_text(s) for n, s in tools().items()}
            fresh = {n: v for n, v in zip(chunk, got.vectors, strict=True) if now.get(n) == snapshot[n]}
            index().attach_vectors(
                blend(fresh, taught.means) if taught else fresh,
                examples=taught.rows,
                shipped=taught.shipped,
                head=head,
            )
        self.last_sync = {**counts, "seconds": round(time.perf_counter() - started, 3)}
        if counts["encoded"]:
            log.info(
                "mcproute: encoded %d tool descriptions in %.1f s (%d from the cache)",
                counts["encoded"],
                self.last_sync["seconds"],
                counts["from_disk"] + counts["from_memory"],
            )

    def set_tool_examples(self, taught: TaughtVectors) -> int:
        """`servers.<name>.tools.examples`, encoded: blended into those tools' vectors and attached
        as their examples by every pass that starts from now on (it reads the tools' own vectors back
        from the cache). Returns the pass to wait for (`wait_pass`): a pass already under way may
        have attached some without them."""
        self._examples = taught
        self.changed()
        return self._passes_started + 1

    async def wait_pass(self, n: int, poll: float = 0.02) -> None:
        """Until the `n`-th encoding pass is done (or the encoder will not run)."""
        while self._passes_done < n and self.state not in ("off", "unavailable"):
            await anyio.sleep(poll)

    def vector_count(self) -> int:
        return self._index().vector_count if self._index is not None else 0

    @property
    def settled(self) -> bool:
        """Loaded with every current tool encoded, or known not to run."""
        return self.state in ("ready", "off", "unavailable")

    async def wait_settled(self, poll: float = 0.02) -> None:
        """For one-shot commands (`mcproute route`), which should rank as a warm gateway does.
        The gateway itself never waits: it serves lexically meanwhile."""
        while not self.settled:
            await anyio.sleep(poll)

    def changed(self) -> None:
        """The catalogue changed: encode what is new (cheap for what the cache already has).
        Before `run` has started this is a no-op: its first pass reads the whole catalogue."""
        if self._changed is not None:
            self._changed.set()

    # ------------------------------------------------------------ per step

    def query_vector(self, text: str) -> np.ndarray | None:
        """The step text's vector, or None while no encoder is loaded (retrieval is then lexical).

        Inline, on the event loop: one run is ~1-5 ms of CPU (a step text is capped at 64
        tokens), as much as the rest of the decision, while a hop to a worker thread measured
        +3.6 to +10 ms p50 on this busy 2-core machine (benchmarks/encoder.py, `to_thread_added_p50_ms`)."""
        enc = self.encoder
        if enc is None:
            return None
        try:
            return enc.encode_one(text)
        except Exception as e:  # noqa: BLE001 - a step must not fail because its vector could not be made
            if not self._query_failed:
                self._query_failed = True
                log.warning("mcproute: the encoder failed on a step text (ranking that step lexically): %s", e)
            return None

    def status(self) -> dict[str, Any]:
        enc = self.encoder
        return {
            "state": self.state,
            "reason": self.reason,
            "model_id": enc.model_id if enc is not None else None,
            "path": str(enc.path) if enc is not None and enc.path is not None else None,
            "load_seconds": round(self.load_seconds, 3),
            "build_seconds": round(enc.build_seconds, 3) if enc is not None else 0.0,
            "tools": self.tools_total,
            "tools_with_vectors": self.vector_count(),
            "last_sync": dict(self.last_sync),
            # Tools served now whose vector the examples shape (a denied tool's examples never apply).
            "tools_with_examples": sorted(set(self._examples.rows).intersection(self._served())),
        }

    def _served(self) -> tuple[str, ...]:
        return self._index().names if self._index is not None else ()
