"""Headless Chromium (Debian's package) driven over the Chrome DevTools protocol.

`--dump-dom` and `--screenshot` take the page at its load event, before a script-built page
(Streamlit: React over a websocket) has drawn anything; over the protocol we wait for what we
expect to see. Also makes the README's screenshot of the demo:

    python -m tests.browser http://127.0.0.1:8501/ docs/demo.png --wait 'mark.entity'
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import typer
from websockets.sync.client import connect

CHROMIUM = Path("/usr/bin/chromium")
# Headless, quiet (no network of its own, no first-run dialogs), as root in a container.
HEADLESS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
MISSING = "needs Debian's chromium at /usr/bin/chromium (make install-dev installs it)"


class Chromium:
    """One headless Chromium with one page, opened at `url`; `with Chromium(...) as page:`."""

    def __init__(self, url: str, profile: Path, width: int = 1280, height: int = 900):
        # A dev requirement (make install-dev installs Debian's chromium): missing, the caller fails.
        assert CHROMIUM.exists(), MISSING
        profile.mkdir(parents=True, exist_ok=True)
        self.profile = profile
        self.log = profile / "chromium.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [
                    str(CHROMIUM),
                    *HEADLESS,
                    "--remote-debugging-port=0",  # the port it takes goes to DevToolsActivePort
                    f"--user-data-dir={profile}",
                    f"--window-size={width},{height}",
                    url,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.ids = itertools.count(1)
        self.connections = ExitStack()

    def __enter__(self) -> Chromium:
        try:
            browser = self._browser_endpoint()
            with connect(browser) as self.socket:
                targets = self.call("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t["type"] == "page")
            page_url = browser.split("/devtools/")[0] + f"/devtools/page/{page['targetId']}"
            self.socket = self.connections.enter_context(connect(page_url))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.connections.close()
        self.process.terminate()
        self.process.wait(timeout=20)

    def _browser_endpoint(self, timeout: float = 30) -> str:
        """ws://127.0.0.1:PORT/devtools/browser/ID, from the file Chromium writes once it listens."""
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active.exists() and len(lines := active.read_text().split()) == 2):
            assert self.process.poll() is None, f"chromium exited: {self.log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"chromium did not listen within {timeout} s"
            time.sleep(0.1)
        port, path = lines
        return f"ws://127.0.0.1:{port}{path}"

    def call(self, method: str, **params) -> dict:
        """Send one protocol command and return its result (events on the way are dropped)."""
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == call_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return message["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout: float = 60):
        """Poll the JavaScript `expression` until it is truthy; return its value (fail after `timeout` s)."""
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
            time.sleep(0.25)
        return value

    def wait_for(self, selector: str, timeout: float = 60) -> None:
        """Until an element matches the CSS `selector`."""
        self.wait_until(f"document.querySelector({json.dumps(selector)}) !== null", timeout)

    def type_into(self, selector: str, text: str) -> None:
        """Replace the text of the input or textarea at `selector` as typing would, then leave it
        (Streamlit takes a text area's value when it loses focus)."""
        self.evaluate(
            f"(el => {{ el.focus(); el.select(); }})(document.querySelector({json.dumps(selector)}))"
        )
        self.call("Input.insertText", text=text)
        self.evaluate("document.activeElement.blur()")

    def dom(self) -> str:
        return self.evaluate("document.documentElement.outerHTML")

    def screenshot(self, path: Path) -> Path:
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.write_bytes(png)
        return path


def main(
    url: str = typer.Argument(..., help="The page to take"),
    output: Path = typer.Argument(..., dir_okay=False, help="The PNG to write"),
    wait: str = typer.Option("body", help="CSS selector to wait for before taking it"),
    width: int = typer.Option(1280),
    height: int = typer.Option(900),
    profile: Path = typer.Option(
        Path("/tmp/chromium-screenshot"), file_okay=False, help="A fresh profile folder"
    ),
):
    with Chromium(url, profile, width, height) as page:
        page.wait_for(wait)
        time.sleep(1)  # let the last elements settle before the picture
        typer.echo(f"wrote {page.screenshot(output)}")


if __name__ == "__main__":
    typer.run(main)
