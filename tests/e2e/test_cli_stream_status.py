"""A real ``arbx serve`` running a ``[[streams]]`` entry against a local fake Binance:
``arbx stream status --server`` shows its live stats, Ctrl-C (SIGINT) stores what it
received, and ``arbx stream status`` then lists the stored pair with its count and times."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.test_cli_stream import fake_binance  # noqa: F401 - the fixture

ARBX = [sys.executable, "-m", "arbx.entrypoints.cli.main"]
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "stream status passphrase 7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def env_for(config: Path, data: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ARBX_CONFIG_DIR": str(config),
        "ARBX_DATA_DIR": str(data),
    }


def arbx(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARBX, "--profile", "test", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_runs_config_streams_that_stream_status_shows_live_and_stored(
    tmp_path: Path,
    fake_binance: str,  # noqa: F811
) -> None:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    with (config / "test.toml").open("a") as handle:
        handle.write(
            "\n[[streams]]\n"
            'name = "omg"\nvenue = "binance"\nsymbols = ["OMG/BUSD"]\n'
            f'url = "{fake_binance}"\nflush_ms = 20\nrestart_delay_s = 0.05\n'
        )
    env = env_for(config, tmp_path / "var")
    made = arbx(
        env,
        "users",
        "create-admin",
        "--username",
        "boss",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    key = arbx(env, "users", "create-api-key", "--username", "boss", "--name", "status")
    assert key.returncode == 0, key.stderr
    api_key = key.stdout.strip()

    port = free_port()
    server = subprocess.Popen(
        [*ARBX, "--profile", "test", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        shown = ""
        while time.monotonic() < deadline:
            status = arbx({**env, "ARBX_API_KEY": api_key}, "stream", "status", "--server", url)
            shown = status.stdout
            if status.returncode == 0 and "stored 11 " in shown:
                break
            time.sleep(0.2)
        assert "1 stream(s) at" in shown, (shown, status.stderr)
        assert "omg [running, config] binance OMG/BUSD" in shown
        assert "trades   running" in shown
        assert "reconnects" in shown

        anonymous = arbx(env, "stream", "status", "--server", url)
        assert anonymous.returncode == 1
        assert "401" in anonymous.stderr
        assert "--api-key" in anonymous.stderr
    finally:
        server.send_signal(signal.SIGINT)
        out, _ = server.communicate(timeout=60)
    # uvicorn re-raises the SIGINT after its shutdown (the lifespan, streams flushed, ran)
    assert server.returncode in (0, 130), out
    assert "Traceback" not in out

    stored = arbx(env, "stream", "status")
    assert stored.returncode == 0, stored.stderr
    line = next(row for row in stored.stdout.splitlines() if row.startswith("binance:OMG/BUSD"))
    assert line.split()[1] == "11"
    assert "2021-10-12T00:24:48.467000+00:00" in line
    assert "2021-10-12T00:25:01.807000+00:00" in line
