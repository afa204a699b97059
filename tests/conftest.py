"""Shared pytest configuration: async tests run on asyncio through the anyio plugin."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def encoder_cache_dir(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - pathlib.Path
    """An encoder cache dir the session's tests share, so the int8 model is built once (~8 s)."""
    return tmp_path_factory.mktemp("encoder-cache")


@pytest.fixture(scope="session")
def encoder(encoder_cache_dir):  # noqa: ANN001, ANN201 - mcproute.encoding.Encoder
    from mcproute.encoding import Encoder

    return Encoder.load(encoder_cache_dir)
