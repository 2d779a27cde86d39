"""How docs/review.png was made: Label Studio's review screen in headless Chromium.

Signs in through Label Studio's login page, opens a task of the review project (by its place in
the list: review-export pushes the most worth reviewing first) beside the task list, and saves a
screenshot. Chromium is driven over the DevTools protocol (its --screenshot flag cannot sign in).

    python -m docs.review_screenshot http://127.0.0.1:8080 docs/review.png \
        --user reviewer@example.com --password "$LABEL_STUDIO_PASSWORD" --task 14
"""

from __future__ import annotations

import base64
import itertools
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import typer
from websockets.sync.client import connect

from components.review.client import LabelStudio

CHROMIUM = "/usr/bin/chromium"


class Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws_url: str):
        self.ws = connect(ws_url, max_size=2**26)
        self.ids = itertools.count(1)

    def send(self, method: str, **params):
        call = next(self.ids)
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:  # events arrive in between; keep the answer to this call
            message = json.loads(self.ws.recv())
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s:g} s for {expression}")
            time.sleep(0.5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(
    url: str = typer.Argument(..., help="The running Label Studio"),
    output: Path = typer.Argument(..., dir_okay=False, help="PNG to write"),
    user: str = typer.Option(..., help="Label Studio account (e-mail)"),
    password: str = typer.Option(..., help="Its password"),
    project: str = typer.Option("en_assay_ner review", help="Project title or id"),
    token_env: str = typer.Option("LABEL_STUDIO_API_KEY", help="Environment variable holding the API token"),
    task: int = typer.Option(1, min=1, help="Which task: its place in the project's list"),
    width: int = typer.Option(1600),
    height: int = typer.Option(900),
):
    client = LabelStudio.from_env(url, token_env)
    project_id = client.project_id(project)
    shown = sorted(t["id"] for t in client.export(project_id))[task - 1]
    client.close()
    port = free_port()
    with tempfile.TemporaryDirectory() as profile:
        chromium = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--remote-debugging-port={port}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(100):
                try:
                    tabs = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            page = Page(next(t for t in tabs if t["type"] == "page")["webSocketDebuggerUrl"])
            page.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                      mobile=False)  # fmt: skip
            page.send("Page.navigate", url=f"{url}/user/login/")
            page.wait_for("!!document.querySelector('input[name=email]')")
            page.evaluate(
                f"document.querySelector('input[name=email]').value = {json.dumps(user)};"
                f"document.querySelector('input[name=password]').value = {json.dumps(password)};"
                "document.querySelector('form').submit(); true"
            )
            page.wait_for("!location.pathname.startsWith('/user/login')")
            page.send("Page.navigate", url=f"{url}/projects/{project_id}/data?task={shown}")
            # The labelling panel is drawn once the text's regions are: wait for the region list.
            page.wait_for("document.querySelectorAll('.htx-highlight').length > 0")
            time.sleep(2)  # fonts and the task list settle
            shot = page.send("Page.captureScreenshot", format="png")["data"]
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_bytes(base64.b64decode(shot))
        finally:
            chromium.terminate()
            chromium.wait(timeout=30)
    typer.echo(f"{output}: task {shown} of project {project_id} at {url}")


if __name__ == "__main__":
    typer.run(main)
