"""The web UI page, its assets and the API docs are served from the package: nothing they
reference leaves the server (no CDN), and only the listed assets can be read."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from arbx.entrypoints.http.routes.ui import ASSETS
from tests.e2e.conftest import AnonymousClient

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def _references(html: str) -> list[str]:
    return [ref for ref in REFERENCE.findall(html) if not ref.startswith(("#", "data:"))]


def test_the_ui_page_and_its_assets_are_local(anonymous_client: AnonymousClient) -> None:
    page = anonymous_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "http" not in csp  # no other origin may be loaded from
    refs = _references(page.text)
    assert refs
    assert "/assets/app.js" in refs
    for ref in refs:
        assert ref.startswith("/assets/"), ref
        assert anonymous_client.get(ref).status_code == 200, ref


def test_the_api_docs_load_only_local_assets(anonymous_client: AnonymousClient) -> None:
    for path in ("/schema", "/schema/swagger"):
        docs = anonymous_client.get(path)
        assert docs.status_code == 200, path
        refs = _references(docs.text)
        assert {"/assets/swagger-ui-bundle.js", "/assets/swagger-ui.css"} <= set(refs)
        for ref in refs:
            assert ref.startswith("/"), ref  # same origin
            answer = anonymous_client.get(ref)
            assert answer.status_code == 200, ref
        assert "cdn." not in docs.text


def test_only_listed_assets_are_served(anonymous_client: AnonymousClient) -> None:
    for name, (_, _, media) in ASSETS.items():
        answer = anonymous_client.get(f"/assets/{name}")
        assert answer.status_code == 200, name
        assert answer.headers["content-type"].split(";")[0] == media.split(";")[0]
        assert answer.content
    for name in ("ui.py", "..%2Fapp.py", "static%2Findex.html", "nope.js"):
        answer = anonymous_client.get(f"/assets/{name}")
        assert answer.status_code == 404, name
        assert answer.json()["status"] == 404


def test_vendored_files_match_their_checksums() -> None:
    import hashlib
    from importlib.resources import files

    for package, folder in (
        ("arbx.adapters.reports", "vendor/uplot"),
        ("arbx.entrypoints.http", "static/vendor/swagger-ui"),
    ):
        base = files(package) / folder
        sums = (base / "SHA256SUMS").read_text().split("\n")
        checked = 0
        for line in filter(None, sums):
            digest, name = line.split()
            assert hashlib.sha256((base / name).read_bytes()).hexdigest() == digest, name
            checked += 1
        assert checked >= 2
        assert (base / "LICENSE").read_text().strip()


def test_signed_in_pages_need_no_server_side_state(client: TestClient) -> None:
    """The UI is one static page: the same bytes for everybody (data come from the API)."""
    assert client.get("/").content == AnonymousClient(client).get("/").content
