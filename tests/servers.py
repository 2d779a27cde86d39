"""Waiting for a server a test started (llama.cpp's, Label Studio, the Streamlit demo): it is up
when its URL answers 200; the test fails, with the tail of the server's log, when the process
exits first or nothing answers in time."""

import subprocess
import time
from pathlib import Path

import httpx
import pytest


def log_tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(encoding="utf8", errors="replace")[-chars:]


def wait_until_answers(name: str, url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"{name} did not answer {url} within {timeout_s:g} s:\n{log_tail(log)}")
