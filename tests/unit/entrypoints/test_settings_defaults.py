"""Defaults live in one place, the settings schema: the shipped config files state only what
differs from it, so a default can never be changed in one copy and not in another."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from arbx.entrypoints.settings import Settings, default_config_dir, load_settings

CONFIG_FILES = sorted(default_config_dir().glob("*.toml"))


def _restated(values: Mapping[str, Any], defaults: Mapping[str, Any], at: str) -> Iterator[str]:
    for key, value in values.items():
        here = f"{at}{key}"
        if key not in defaults:
            continue
        default = defaults[key]
        if isinstance(value, Mapping) and isinstance(default, Mapping):
            yield from _restated(value, default, here + ".")
        elif key != "profile" and value == default:
            yield here


@pytest.mark.parametrize("path", CONFIG_FILES, ids=lambda p: p.name)
def test_config_files_do_not_restate_schema_defaults(path: Path) -> None:
    defaults = msgspec.to_builtins(Settings())
    values = tomllib.loads(path.read_text())
    assert list(_restated(values, defaults, "")) == []


def test_the_shipped_defaults_are_the_schemas() -> None:
    from arbx.entrypoints.settings import load_settings

    assert load_settings(environ={}, profile="local") == Settings()


def test_a_variable_for_one_rate_limit_group_keeps_the_other_groups(tmp_path: Path) -> None:
    """Raising the read limit through the environment used to replace the whole table, so
    sign-in then failed with "rate limit group 'auth' is not configured"."""
    settings = load_settings(
        environ={
            "ARBX_AUTH__RATE_LIMITS__READ__PER_MINUTE": "100000",
            "ARBX_AUTH__RATE_LIMITS__READ__BURST": "5000",
        },
        config_dir=tmp_path,
    )
    limits = settings.auth.rate_limits
    assert limits["read"].per_minute == 100000
    assert limits["read"].burst == 5000
    assert set(limits) == {"auth", "read", "write", "compute", "admin"}
    assert limits["auth"] == load_settings(environ={}, config_dir=tmp_path).auth.rate_limits["auth"]
