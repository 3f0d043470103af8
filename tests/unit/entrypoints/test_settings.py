"""Settings: defaults < profile file < ARBX_* environment < explicit overrides; typos fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbx.domain.errors import InvalidInput
from arbx.entrypoints.settings import load_settings


def test_defaults_and_profiles() -> None:
    local = load_settings(environ={})
    assert (local.profile, local.http.port, local.storage.data_dir) == ("local", 8000, "var")
    test = load_settings(environ={}, profile="test")
    assert test.http.max_page_rows == 1000
    server = load_settings(environ={"ARBX_PROFILE": "server"})
    assert (server.profile, server.http.host) == ("server", "0.0.0.0")


def test_environment_overrides() -> None:
    settings = load_settings(
        environ={
            "ARBX_HTTP__PORT": "8123",
            "ARBX_DATABASE_URL": "postgresql://db/x",
            "ARBX_DATABASE__POOL_MAX_SIZE": "3",
            "ARBX_DATA_DIR": "/data",
            "OTHER": "1",
        }
    )
    assert settings.http.port == 8123
    assert settings.database.url == "postgresql://db/x"
    assert settings.database.pool_max_size == 3
    assert settings.storage.data_dir == "/data"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ARBX_HTTP__PROT": "1"}, "http.prot: unknown key"),
        ({"ARBX_HTTP__PORT": "eighty"}, "http.port: expected `int`"),
        ({"ARBX_HTTP__PORT": "70000"}, "port must be between"),
        ({"ARBX_LOGGING__LEVEL": "LOUD"}, "logging.level"),
        ({"ARBX_PROFILE": "nope"}, "profile 'nope'"),
        ({"ARBX_COLOUR": "red"}, "colour: unknown key"),
    ],
)
def test_bad_settings_name_the_key(environ: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_settings(environ=environ)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "default.toml").write_text("[http\nport = 1")
    with pytest.raises(InvalidInput, match="default.toml is not valid TOML"):
        load_settings(config_dir=tmp_path, environ={})
