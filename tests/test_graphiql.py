"""GraphiQL works offline: the page names only vendored assets, the assets are the published
files (their SRI hashes), and a real headless Chromium renders the editor and runs a query
against a real ``ncm serve``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_sqlite_template
from tests.test_app import prod_http  # noqa: F401 (fixture)

pytestmark = pytest.mark.backend_independent

BACKEND = os.environ.get("NCM_TEST_BACKEND", "postgres")


async def test_page_loads_only_local_assets_with_matching_integrity(http: Any) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    html = page.text
    assert "unpkg.com" not in html and "https://" not in re.sub(r"http://www\.w3\.org", "", html)
    assets = re.findall(r'(?:src|href)="(/graphql/ide/[^"]+)"\s+integrity="([^"]+)"', html)
    assert len(assets) == 7
    for path, integrity in assets:
        response = await http.get(path)
        assert response.status_code == 200, path
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert integrity == f"sha384-{digest}", path


async def test_production_serves_no_ide_assets(prod_http: Any) -> None:  # noqa: F811
    assert (await prod_http.get("/graphql/ide/graphiql.min.js")).status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DevTools:
    """The few Chrome DevTools Protocol calls the test needs, over the page's websocket."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=10, legacy=True)
        self.next_id = 0
        self.console: list[str] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(message["params"])[:500])
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, what: str, seconds: float = 60) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        body = self.evaluate("document.body.innerText.slice(0, 500)")
        raise AssertionError(f"timed out waiting for {what}; page: {body!r}; {self.console}")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """A real ``ncm serve`` on the embedded default with the demo catalog."""
    folder = tempfile.mkdtemp(prefix="ncm-ide-")
    port = _free_port()
    env = {
        **os.environ,
        "NCM_DATA_DIR": folder,
        "NCM_DATABASE_URL": f"sqlite://{folder}/ncm.sqlite3",
        "NCM_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
    }
    env.pop("NCM_REDIS_URL", None)
    ncm = [sys.executable, "-m", "ncm.cli"]
    # The migrated schema (tests/test_migrations.py applies the chain to an empty SQLite
    # database); `db upgrade` then finds it up to date, as on a second `make run`.
    copy_sqlite_template(f"{folder}/ncm.sqlite3")
    subprocess.run([*ncm, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*ncm, "seed", "demo"], env=env, check=True, capture_output=True)
    server = subprocess.Popen(
        [*ncm, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(BACKEND != "postgres", reason="runs once, in the first pass")
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed")
def test_chromium_renders_graphiql_and_runs_a_query(served: str) -> None:
    profile = tempfile.mkdtemp(prefix="ncm-chromium-")
    browser = subprocess.Popen(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        for _ in range(150):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        tools = DevTools(pages[0]["webSocketDebuggerUrl"])
        tools.call("Runtime.enable")
        query = "{ genres { name } }"
        from urllib.parse import quote

        tools.call("Page.navigate", url=f"{served}/graphql?q={quote(query)}")
        tools.wait_for("!!document.querySelector('.graphiql-execute-button')", "the editor")
        # Under load the button can be drawn before the editor is ready to run a query, and
        # that click is lost: click again every few seconds until the result shows (never
        # while a query runs: the button is then "Stop query").
        click = (
            "(b => { if (!/^Stop/.test(b.getAttribute('aria-label') || '')) b.click(); })"
            "(document.querySelector('.graphiql-execute-button'))"
        )
        result = (
            "(t => /\"(data|errors)\"/.test(t) ? t : '')"
            "((document.querySelector('.result-window') || {}).innerText || '')"
        )
        text = ""
        for _ in range(12):
            tools.evaluate(click)
            try:
                text = tools.wait_for(result, "the query's result", seconds=5)
                break
            except AssertionError:
                continue
        if not text:
            text = tools.wait_for(result, "the query's result", seconds=5)
        assert '"genres"' in text and '"errors"' not in text, text
        tools.ws.close()
    finally:
        browser.terminate()
        browser.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)
