"""``arbx users``: the first admin without any default password, and keys for scripts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from litestar.testing import TestClient

from arbx.entrypoints.cli.main import main
from arbx.entrypoints.container import build_container
from arbx.entrypoints.http.app import create_app
from arbx.entrypoints.settings import load_settings
from tests.e2e.conftest import AnonymousClient
from tests.e2e.test_auth_matrix import login

PASSWORD = "first admin passphrase 1"


def arbx(tmp_path: Path, *args: str) -> int:
    return main(["--profile", "test", "--data-dir", str(tmp_path / "var"), *args])


def test_create_admin_then_a_script_key_that_works_over_http(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert arbx(tmp_path, "users", "create-admin", "--username", "Boss", "--password-stdin") == 0
    assert "created admin 'boss'" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    second = arbx(tmp_path, "users", "create-admin", "--username", "other", "--password-stdin")
    assert second == 1
    assert "an admin exists already" in capsys.readouterr().err

    code = arbx(
        tmp_path,
        "users",
        "create-api-key",
        "--username",
        "boss",
        "--name",
        "nightly",
        "--roles",
        "viewer",
    )
    assert code == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("arbx_")
    assert "roles viewer" in err

    settings = load_settings(
        profile="test", environ={}, overrides={"storage": {"data_dir": str(tmp_path / "var")}}
    )
    with TestClient(create_app(build_container(settings))) as client:
        anonymous = AnonymousClient(client)
        assert anonymous.get("/api/v1/series", headers={"X-API-Key": key}).status_code == 200
        assert anonymous.get("/api/v1/audit", headers={"X-API-Key": key}).status_code == 403
        login(anonymous, "boss", PASSWORD)


class Terminal(io.StringIO):
    """Standard input that is a terminal (the password is asked there)."""

    def isatty(self) -> bool:
        return True


def test_create_admin_refuses_a_weak_or_mistyped_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("password\n"))
    assert arbx(tmp_path, "users", "create-admin", "--username", "boss", "--password-stdin") == 2
    assert "arbx: error: password must be at least 12 characters" in capsys.readouterr().err
    typed = iter(["one passphrase here 1", "another passphrase 2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(typed))
    monkeypatch.setattr("sys.stdin", Terminal())
    assert arbx(tmp_path, "users", "create-admin", "--username", "boss") == 2
    err = capsys.readouterr().err
    assert "the two passwords differ" in err
    # the policy is shown before the password is asked
    assert err.index("needs 12 to 256 characters") < err.index("the two passwords differ")
    typed = iter(["short"])
    assert arbx(tmp_path, "users", "create-admin", "--username", "boss") == 2
    assert "at least 12 characters" in capsys.readouterr().err  # refused before the repeat


def test_create_api_key_for_an_unknown_user_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = arbx(tmp_path, "users", "create-api-key", "--username", "ghost", "--name", "x")
    assert code == 1
    assert "no user 'ghost'" in capsys.readouterr().err
