"""The app and the CLI on the real local profile (Parquet + SQLite) in a temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar.testing import TestClient

from arbx.entrypoints.container import Container, build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import Settings, load_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        profile="test",
        environ={},
        overrides={"storage": {"data_dir": str(tmp_path / "var")}, "http": {"max_page_rows": 100}},
    )


@pytest.fixture
def container(settings: Settings) -> Container:
    return build_container(settings)


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client
