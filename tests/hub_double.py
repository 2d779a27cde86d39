"""A stand-in for the Hugging Face Hub on 127.0.0.1: the hub is unreachable from this machine.

It speaks the part of the hub's wire format that `huggingface_hub` uses when transformers loads a
model: `HEAD` and `GET` on `/{repo_id}/resolve/{revision}/{filename}`, answered with the file and
the headers the client reads (`X-Repo-Commit`, `ETag`, `Content-Length`); the folder listing
`GET /api/models/{repo_id}/tree/{revision}/{folder}` (transformers asks for a tokenizer's extra
chat templates); 404 with the hub's `X-Error-Code` (`EntryNotFound`, `RepoNotFound`) otherwise.
One repo id, served from a directory.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

COMMIT = "0" * 39 + "1"


class HubDouble:
    def __init__(self, repo_id: str, directory: Path):
        self.repo_id = repo_id
        self.directory = directory
        self.requests: list[tuple[str, str]] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                double.requests.append(("HEAD", self.path))
                self._answer(with_body=False)

            def do_GET(self):
                double.requests.append(("GET", self.path))
                self._answer(with_body=True)

            def _answer(self, with_body: bool):
                path = unquote(self.path.split("?")[0])
                if path.startswith("/api/"):
                    self._listing(path)
                    return
                file, error = double.resolve(path)
                if file is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", error)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def _listing(self, path: str):
                entries, error = double.listing(path)
                body = json.dumps(entries).encode() if entries is not None else b""
                self.send_response(200 if entries is not None else 404)
                if entries is None:
                    self.send_header("X-Error-Code", error)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def resolve(self, path: str) -> tuple[Path | None, str]:
        prefix = f"/{self.repo_id}/resolve/"
        if not path.startswith(prefix):
            return None, "RepoNotFound"
        _revision, _, filename = path[len(prefix) :].partition("/")
        file = self.directory / filename
        if not filename or ".." in filename or not file.is_file():
            return None, "EntryNotFound"
        return file, ""

    def listing(self, path: str) -> tuple[list[dict] | None, str]:
        prefix = f"/api/models/{self.repo_id}/tree/"
        if not path.startswith(prefix):
            return None, "RepoNotFound"
        _revision, _, folder = path[len(prefix) :].partition("/")
        directory = self.directory / folder
        if ".." in folder or not directory.is_dir():
            return None, "EntryNotFound"
        entries = []
        for entry in sorted(directory.iterdir()):
            path_in_repo = str(entry.relative_to(self.directory))
            if entry.is_dir():
                entries.append({"type": "directory", "path": path_in_repo, "oid": COMMIT})
            else:
                size = entry.stat().st_size
                entries.append({"type": "file", "path": path_in_repo, "oid": COMMIT, "size": size})
        return entries, ""

    def served(self, filename: str) -> bool:
        return any(method == "GET" and path.endswith(f"/{filename}") for method, path in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
