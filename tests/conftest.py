"""Shared pytest configuration: async tests run on asyncio through the anyio plugin."""

from __future__ import annotations

import pytest

from redis_fixture import redis_server  # noqa: F401  (session fixture: one real redis-server for all tests)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def encoder_cache_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - pathlib.Path
    """One encoder cache dir for the session, engines and `mcproute` subprocesses included (via
    MCPROUTE_CACHE_DIR): the int8 model is built once (~8 s), and nothing is written to ~/.cache."""
    import os

    path = tmp_path_factory.mktemp("encoder-cache")
    old = os.environ.get("MCPROUTE_CACHE_DIR")
    os.environ["MCPROUTE_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MCPROUTE_CACHE_DIR", None)
    else:
        os.environ["MCPROUTE_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def encoder(encoder_cache_dir):  # noqa: ANN001, ANN201 - mcproute.encoding.Encoder
    from mcproute.encoding import Encoder

    return Encoder.load(encoder_cache_dir)
