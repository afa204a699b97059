"""The tier examples in force: the shipped default set plus the user's `routing.tiers.examples`,
encoded once at start-up (as steps, through the encoder's on-disk cache) into an `ExampleSet`.

The shipped set (`mcproute/data/tier_examples.yaml`) maps tier -> category -> prompts; a user's
set in servers.yaml is tier -> prompts. A user example that repeats a shipped one under the other
tier wins (the shipped copy is dropped), so users can correct the default set.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

import anyio
import yaml

from mcproute.config import TiersConfig
from mcproute.encoding.cache import ToolVectorCache
from mcproute.encoding.model import Encoder
from mcproute.encoding.steps import step_vectors
from mcproute.errors import ConfigError
from mcproute.router.tier_examples import Example, ExampleSet

if TYPE_CHECKING:
    from mcproute.runtime.engine import Engine

SHIPPED = "tier_examples.yaml"
log = logging.getLogger("mcproute.runtime")


def shipped_examples(raw: str | None = None) -> list[Example]:
    """The shipped default set (or `raw` YAML of the same shape); ConfigError naming what is wrong."""
    where = f"mcproute/data/{SHIPPED}"
    try:
        text = raw if raw is not None else resources.files("mcproute").joinpath("data", SHIPPED).read_text("utf-8")
        data: Any = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError([f"{where}: cannot read tier examples: {exc}"]) from None
    problems: list[str] = []
    out: list[Example] = []
    if not isinstance(data, dict) or set(data) != {"reasoning", "fast"}:
        raise ConfigError([f"{where}: expected exactly the keys 'reasoning' and 'fast'"])
    for tier in ("reasoning", "fast"):
        cats = data[tier]
        if not isinstance(cats, dict):
            problems.append(f"{where}: {tier}: expected a mapping of category -> list of prompts")
            continue
        for cat, prompts in cats.items():
            if not isinstance(prompts, list) or not all(isinstance(p, str) and p.strip() for p in prompts):
                problems.append(f"{where}: {tier}.{cat}: expected a list of non-empty strings")
                continue
            out.extend(Example(p, tier, str(cat), "shipped") for p in prompts)
    if problems:
        raise ConfigError(problems)
    return out


def configured_examples(tiers: TiersConfig) -> list[Example]:
    return [Example(t, "reasoning", "", "yours") for t in tiers.examples.reasoning] + [
        Example(t, "fast", "", "yours") for t in tiers.examples.fast
    ]


def examples_in_force(tiers: TiersConfig) -> list[Example]:
    yours = configured_examples(tiers)
    overridden = {" ".join(e.text.split()).lower() for e in yours}
    shipped = (
        [e for e in shipped_examples() if " ".join(e.text.split()).lower() not in overridden]
        if tiers.shipped_examples
        else []
    )
    return shipped + yours


def encode_examples(encoder: Encoder, examples: Sequence[Example], cache: ToolVectorCache | None = None) -> ExampleSet:
    if not examples:
        return ExampleSet.empty(encoder.dim)
    return ExampleSet(tuple(examples), step_vectors(encoder, [e.text for e in examples], cache))


class TierExampleLoader:
    """The engine's background task that encodes the examples in force once its encoder is loaded
    (through the on-disk step cache) and installs them in the scorer. Until then, and without an
    encoder, the scorer runs without examples."""

    def __init__(self) -> None:
        self.ready = False  # installed, or failed (the score then runs without them)
        self.settled = anyio.Event()  # ready, or known never to be (no encoder)

    async def run(self, engine: Engine) -> None:
        try:
            await self._attach(engine)
        finally:
            self.settled.set()

    async def wait(self, *, until: float) -> None:
        """Wait until settled, or until `time.perf_counter()` reaches `until`."""
        with anyio.move_on_after(max(0.0, until - time.perf_counter())):
            await self.settled.wait()

    async def _attach(self, engine: Engine) -> None:
        from mcproute.encoding.steps import step_cache

        vectors = engine.vectors
        while vectors.encoder is None and vectors.state == "loading":
            await anyio.sleep(0.05)
        encoder = vectors.encoder
        if encoder is None:
            return
        try:
            examples = examples_in_force(engine.config.routing.tiers)
            cache = step_cache(vectors.cache_dir)
            try:
                found = await anyio.to_thread.run_sync(
                    encode_examples, encoder, examples, cache, abandon_on_cancel=True
                )
            finally:
                cache.close()
        except Exception as e:  # noqa: BLE001 - the gateway keeps deciding (without examples) and says why
            log.warning("mcproute: the tier examples could not be attached, the tier score runs without them: %s", e)
            self.ready = True
            return
        engine.install_tier_examples(found)
        await engine.refresh_calibration()
        self.ready = True
        log.info(
            "mcproute: tier examples in force: %d reasoning, %d fast (%d of them yours)",
            found.count("reasoning"),
            found.count("fast"),
            sum(1 for e in found.examples if e.origin == "yours"),
        )
        # Steps decide with vectors from here on; the tool examples join once blended in (`settled`
        # waits for them too, so a one-shot command such as `mcproute route` ranks with them).
        await _attach_tool_examples(engine, encoder)


async def _attach_tool_examples(engine: Engine, encoder: Encoder) -> None:
    """`servers.<name>.tools.examples`, blended into those tools' vectors (runtime/tool_examples.py)."""
    from mcproute.encoding.steps import step_cache
    from mcproute.runtime.tool_examples import (
        encode_tool_examples,
        examples_id,
        shipped_in_force,
        tool_examples_in_force,
    )

    pairs = tool_examples_in_force(engine.config)
    if not pairs:
        return
    shipped = shipped_in_force(engine.config)
    try:
        cache = step_cache(engine.vectors.cache_dir)
        try:
            taught = await anyio.to_thread.run_sync(
                lambda: encode_tool_examples(encoder, pairs, cache, shipped=shipped), abandon_on_cancel=True
            )
        finally:
            cache.close()
    except Exception as e:  # noqa: BLE001 - the gateway keeps ranking (without them) and says why
        log.warning("mcproute: the tool examples could not be used, tools rank without them: %s", e)
        return
    await engine.vectors.wait_pass(engine.vectors.set_tool_examples(taught))  # a pass has blended them all in
    engine.tool_examples_id = examples_id(pairs)
    log.info("mcproute: tool examples in force: %d, for %d tools", len(pairs), len(taught.rows))
