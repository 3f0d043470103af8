"""The Makefile: make run honours PORT, and installing prints no deprecation warning."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or dict(os.environ),
        check=False,
    )


def test_make_run_serves_on_the_port_given() -> None:
    chosen = make("-n", "run", "PORT=8123")
    assert chosen.returncode == 0, chosen.stderr
    assert ".venv/bin/arbx serve --port 8123" in chosen.stdout
    default = make("-n", "run")
    assert default.stdout.rstrip().splitlines()[-1].strip() == ".venv/bin/arbx serve"


def test_installing_prints_no_deprecation_warning() -> None:
    found = os.environ.get("UV") or shutil.which("uv")
    bootstrap = REPO / ".tools" / "uv" / "bin" / "uv"
    uv = found or (str(bootstrap) if bootstrap.is_file() else None)
    if uv is None:
        pytest.skip("no uv on PATH, in UV or .tools/ (the Makefile would pip-install one)")
    env = {**os.environ, "PATH": f"{Path(uv).parent}:{os.environ.get('PATH', '')}"}
    done = make("install-dev", env=env)
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).lower()
    assert "deprecated" not in output
    assert "warning" not in output
