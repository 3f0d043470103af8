"""Every ```sh block of README.md runs as written, in order, on a fresh data dir.

Conventions (for whoever writes README examples; the harness is generic):

- Blocks fenced ```sh are run; ```text, ```toml, ```python ... are not (the ```python example of
  "From Python" is run by tests/e2e/test_python_api.py).
- Each command (a line, with its backslash continuations) runs in its own ``bash`` from a
  fresh work folder holding the repository's ``.venv``, ``data``, ``config`` and
  ``Makefile``; shell variables and ``export``s carry over to the next commands and blocks.
  A block with compound commands (``for``/``if``/``while``/``case``, a here-document, a
  function) runs as one script with ``set -e``.
- A command must exit 0 unless its comment says ``# expect exit N``.
- ``arbx serve`` and ``make run`` start in the background; the harness waits for ``/health``
  and stops the server (by its process group) when the next server starts or at the end.
- Ports 8000-8099 are replaced by free ports (one per number; ``ARBX_HTTP__PORT`` is the one
  for 8000), so the README can say 8000 on a busy machine.
- Placeholders: ``ID``, ``STUDY``, ``TRIAL``, ``RUN`` become the newest 32-hex id printed
  (``ID ID2`` in one command: the id printed before the newest, then the newest)
  before the command; ``arbx_…`` the last API key printed; ``<access_token>`` the last
  ``access_token`` printed; ``…`` as the password in a JSON body the admin's password.
  A command that asks for a password on the terminal (``create-admin`` without
  ``--password-stdin``) gets the admin's password typed in (the command runs on a pseudo
  terminal). Add a pattern to ``HEX_PLACEHOLDERS`` / ``substitute`` for a new kind.
- The exchanges are local fake venues (tests/support/exchanges.py; ``ARBX_EXCHANGES__*``),
  the ``postgresql://…@db.example…`` URL is the test database (a fresh schema), ``make``
  runs with a no-op ``uv`` first on ``PATH`` (the venv is installed already: ``make run``
  must not re-sync it), and curl runs with ``--fail-with-body`` (an HTTP error fails).
- Not run: ``make test``, ``make lint``, ``.ci/run`` (the suite this test is part of).

The report (printed, see ``-s``) lists every block and command with its outcome.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.conftest import venue_overrides
from tests.support.exchanges import FakeExchanges
from tests.support.postgres import PostgresTestDatabase

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PASSWORD = "Readme-Test-Passw0rd"
LINE_TIMEOUT_S = 300
HEX_PLACEHOLDERS = ("ID", "STUDY", "TRIAL", "RUN")
NOT_RUN = re.compile(r"^\s*(make\s+(test|lint)\b|\.ci/run\b)")
BACKGROUND = re.compile(r"(^|\s|/)(arbx\s+(--\S+\s+)*serve\b|make\s+run\b)")
COMPOUND = re.compile(r"^\s*(for|if|while|until|case|function)\b|<<|^\s*\w+\s*\(\)\s*\{", re.M)
EXPECT = re.compile(r"#.*\bexpect exit (\d+)\b")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")
API_KEY = re.compile(r"\barbx_[A-Za-z0-9_\-]{16,}")
ACCESS_TOKEN = re.compile(r'"access_token"\s*:\s*"([^"]+)"')
PORT = re.compile(r"\b(80\d\d)\b")


@dataclass
class Command:
    heading: str
    line: int  # in README.md, 1-based
    text: str
    expect: int = 0
    compound: bool = False


@dataclass
class Outcome:
    command: Command
    status: str  # ran, background, not run
    code: int | None = None
    seconds: float = 0.0
    output: str = ""


def sh_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(heading, first line number, lines) of every ```sh block, in order."""
    blocks, heading, inside, start, lines = [], "", False, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if not inside and line.startswith("#"):
            heading = line.lstrip("#").strip()
        if not inside and line.strip() == "```sh":
            inside, start, lines = True, number + 1, []
        elif inside and line.strip() == "```":
            blocks.append((heading, start, lines))
            inside = False
        elif inside:
            lines.append(line)
    return blocks


def code_and_comment(line: str) -> tuple[str, str]:
    """Split a shell line at its comment (a ``#`` after a blank, outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, ""


def commands(text: str) -> list[Command]:
    found = []
    for heading, start, lines in sh_blocks(text):
        body = "\n".join(lines)
        if COMPOUND.search(body):
            found.append(Command(heading, start, body, compound=True))
            continue
        pending: list[str] = []
        first = start
        for offset, line in enumerate(lines):
            if not pending:
                first = start + offset
            code, _ = code_and_comment(line)
            if not pending and not code.strip():
                continue  # blank or comment-only
            pending.append(line)
            if code.rstrip().endswith("\\"):
                continue
            joined = "\n".join(pending)
            expect = EXPECT.search(joined)
            found.append(Command(heading, first, joined, int(expect.group(1)) if expect else 0))
            pending = []
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Readme:
    """The work folder, the environment and everything printed so far."""

    work: Path
    env: dict[str, str]
    database_url: str
    ports: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.work / ".readme-state.sh"

    def port(self, number: str) -> str:
        if number not in self.ports:
            self.ports[number] = str(free_port())
        return self.ports[number]

    def substitute(self, text: str) -> str:
        code, comment = code_and_comment(text) if "\n" not in text else (text, "")
        code = PORT.sub(lambda m: self.port(m.group(1)), code)
        code = re.sub(r"postgresql://[^\s'\"]*@db\.example[^\s'\"]*", self.database_url, code)
        second = re.compile(r"(?<![\w$/-])ID2(?![\w/=-])")
        if second.search(code):  # "ID ID2": the run printed before the newest, then the newest
            newest, before = self.two_newest(HEX_ID)
            code = second.sub(newest, code)
            code = re.sub(r"(?<![\w$/-])ID(?![\w/=-])", before, code)
        for name in HEX_PLACEHOLDERS:
            pattern = re.compile(rf"(?<![\w$/-]){name}(?![\w/=-])")
            if pattern.search(code):
                code = pattern.sub(self.newest(HEX_ID, name), code)
        if "arbx_…" in code:
            code = code.replace("arbx_…", self.newest(API_KEY, "arbx_…"))
        if "<access_token>" in code:
            code = code.replace("<access_token>", self.newest(ACCESS_TOKEN, "<access_token>"))
        code = re.sub(r'("password"\s*:\s*")…(")', rf"\g<1>{PASSWORD}\g<2>", code)
        return code + comment

    def two_newest(self, pattern: re.Pattern[str]) -> tuple[str, str]:
        """The newest two distinct ids printed (for ``ID`` and ``ID2`` in one command)."""
        seen: list[str] = []
        for output in reversed(self.outputs):
            for found in reversed(list(pattern.finditer(output))):
                value = found.group(1) if pattern.groups else found.group(0)
                if value not in seen:
                    seen.append(value)
                if len(seen) == 2:
                    return seen[0], seen[1]
        raise AssertionError("placeholders ID and ID2: fewer than two ids were printed")

    def newest(self, pattern: re.Pattern[str], name: str) -> str:
        for output in reversed(self.outputs):
            found = pattern.search(output)
            if found:
                return found.group(1) if pattern.groups else found.group(0)
        raise AssertionError(f"placeholder {name}: no earlier command printed one")

    def script(self, code: str, *, compound: bool) -> str:
        keep = "export -p | grep '^declare -x ' | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_)='"
        return (
            f"set -a\n. {self.state}\n{'set -e' if compound else ''}\n{code}\n"
            f"__rc=$?\n{keep} > {self.state}\nexit $__rc\n"
        )

    def run(self, command: Command) -> Outcome:
        code = self.substitute(command.text)
        if NOT_RUN.search(code):
            return Outcome(command, "not run")
        if not command.compound and BACKGROUND.search(code_and_comment(code)[0]):
            return self.serve(command, code)
        started = time.monotonic()
        master, slave = os.openpty()
        typist = threading.Thread(target=answer_prompts, args=(master,), daemon=True)
        process = subprocess.Popen(
            ["bash", "-c", self.script(code, compound=command.compound)],
            cwd=self.work,
            env=self.env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=take_terminal,
        )
        os.close(slave)
        typist.start()
        try:
            out, err = process.communicate(timeout=LINE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        finally:
            os.close(master)
        output = out.decode(errors="replace") + err.decode(errors="replace")
        self.outputs.append(output)
        return Outcome(command, "ran", process.returncode, time.monotonic() - started, output)

    def serve(self, command: Command, code: str) -> Outcome:
        self.stop_servers()
        explicit = re.search(r"(?:--port[ =]|PORT=)(\d+)", code)
        port = int(explicit.group(1) if explicit else self.port("8000"))
        log = (self.work / f"server-{port}.log").open("wb")
        process = subprocess.Popen(
            ["bash", "-c", f"set -a\n. {self.state}\nexec {code_and_comment(code)[0]}"],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.servers.append(process)
        started = time.monotonic()
        while time.monotonic() - started < 120:
            if process.poll() is not None:
                text = (self.work / f"server-{port}.log").read_text(errors="replace")
                return Outcome(command, "background", process.returncode, 0.0, text[-3000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                    return Outcome(command, "background", 0, time.monotonic() - started)
            except OSError:
                time.sleep(0.2)
        return Outcome(command, "background", -1, time.monotonic() - started, "no /health")

    def stop_servers(self) -> None:
        for process in self.servers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.servers.clear()


def take_terminal() -> None:
    """In the child (a new session): make its stdin, a pseudo terminal, its terminal, so a
    password prompt (getpass opens /dev/tty) can be answered."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def answer_prompts(master: int) -> None:
    """Type the admin's password at every 'password: ' prompt on the terminal."""
    seen = b""
    while True:
        try:
            chunk = os.read(master, 1024)
        except OSError:
            return
        if not chunk:
            return
        seen = (seen + chunk)[-200:]
        if seen.rstrip().lower().endswith(b"password:"):
            os.write(master, PASSWORD.encode() + b"\n")
            seen = b""


@pytest.fixture
def readme(
    tmp_path: Path,
    threaded_venues: FakeExchanges,
    postgres_database: PostgresTestDatabase,
) -> Iterator[Readme]:
    work = tmp_path / "clone"
    work.mkdir()
    for name in (
        ".venv",
        "data",
        "config",
        "examples",
        "bench",
        "Makefile",
        "pyproject.toml",
        "uv.lock",
    ):
        (work / name).symlink_to(REPO / name)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "uv").write_text("#!/bin/sh\n# the README test: the venv is installed already\n")
    (tools / "uv").chmod(0o755)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".curlrc").write_text("--fail-with-body\n--max-time 60\n")
    schema = postgres_database.new_schema_name("arbx_readme")
    env = {
        "PATH": f"{tools}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "ARBX_DATA_DIR": str(work / "var"),
        "ARBX_DATABASE__SCHEMA": schema,
        "ARBX_LOGGING__LEVEL": "WARNING",
    }
    fast = venue_overrides(threaded_venues)
    for venue, values in fast.items():
        for key, value in values.items():
            env[f"ARBX_EXCHANGES__{venue.upper()}__{key.upper()}"] = str(value)
    state = Readme(work, env, postgres_database.url)
    env["ARBX_HTTP__PORT"] = state.port("8000")
    state.state.write_text("")
    try:
        yield state
    finally:
        state.stop_servers()
        postgres_database.drop_schema(schema)


def report(outcomes: list[Outcome]) -> str:
    lines, heading = [], None
    for o in outcomes:
        if o.command.heading != heading:
            heading = o.command.heading
            lines.append(f"## {heading}")
        first = o.command.text.strip().splitlines()[0][:90]
        code = "" if o.code is None else f" exit {o.code}"
        lines.append(f"  README:{o.command.line} {o.status}{code} {o.seconds:5.1f}s  {first}")
    return "\n".join(lines)


# every README command in one test: minutes on a loaded machine, so past the default timeout
@pytest.mark.timeout(1200)
def test_every_sh_block_of_the_readme_runs_as_written(readme: Readme) -> None:
    assert shutil.which("curl"), "the README's examples use curl"
    outcomes: list[Outcome] = []
    failures: list[str] = []
    for command in commands(README.read_text()):
        outcome = readme.run(command)
        outcomes.append(outcome)
        if outcome.status != "not run" and outcome.code != command.expect:
            failures.append(
                f"README.md:{command.line} ({command.heading}) exited {outcome.code},"
                f" expected {command.expect}:\n$ {command.text}\n{outcome.output[-2500:]}"
            )
            break  # later commands depend on this one
    print(report(outcomes), file=sys.stderr)
    assert not failures, "\n\n".join(failures)
    assert sum(o.status == "ran" for o in outcomes) >= 20


def test_the_harness_splits_commands_and_comments() -> None:
    text = "# t\n```sh\na --x 1 \\\n  --y 2   # note\n# only a comment\nb '#not' # c expect exit 3\n```\n"
    found = commands(text)
    assert [c.text for c in found] == ["a --x 1 \\\n  --y 2   # note", "b '#not' # c expect exit 3"]
    assert [c.expect for c in found] == [0, 3]
    assert [c.line for c in found] == [3, 6]
    assert code_and_comment("curl -H 'a#b' x # y") == ("curl -H 'a#b' x ", "# y")
    assert uuid.UUID(hex="0" * 32)  # 32-hex ids are what HEX_ID matches
    assert HEX_ID.fullmatch("0" * 32)
