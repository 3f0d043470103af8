"""GET /metrics on a port of its own ([telemetry] metrics_port, issue 18): a real ``arbx serve``
answers Prometheus there with no credentials while the API's /metrics stays guarded, and a
metrics port in use stops the start-up with one line."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_cli_slips import EXE, free_port, wait_healthy


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_metrics_are_scraped_on_their_own_port_without_credentials(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "ARBX_DATA_DIR": str(tmp_path / "var"),
        "ARBX_TELEMETRY__METRICS_PORT": str(metrics_port),
    }
    server = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_healthy(port, server)
        assert get(f"http://127.0.0.1:{port}/health")[0] == 200
        status, text = get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert status == 200
        names = {family.name for family in text_string_to_metric_families(text)}
        assert "arbx_http_server_duration_seconds" in names or any(
            name.startswith("arbx_http") for name in names
        ), names
        # the API's own /metrics still asks for observability:read; nothing else on the port
        assert get(f"http://127.0.0.1:{port}/metrics")[0] == 401
        assert get(f"http://127.0.0.1:{metrics_port}/api/v1/series")[0] == 404
    finally:
        server.terminate()
        server.wait(30)
    assert "Traceback" not in (server.stderr.read() if server.stderr else "")


def test_a_metrics_port_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics_port = taken.getsockname()[1]
        done = subprocess.run(
            [EXE, "serve", "--port", str(free_port())],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                **os.environ,
                "ARBX_DATA_DIR": str(tmp_path / "var"),
                "ARBX_TELEMETRY__METRICS_PORT": str(metrics_port),
            },
        )
    assert done.returncode == 1
    assert f"port {metrics_port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr
