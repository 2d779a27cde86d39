"""Label Studio's REST API: the few calls of the review loop, over httpx.

Find or create the review project, add tasks to it (each description once), and download its JSON
export. The token comes from the environment variable the user names, never from the command
line. Label Studio (since 1.17) hands out personal access tokens, JWTs that are exchanged for a
short-lived access token (`/api/token/refresh`, then `Authorization: Bearer`); a legacy token
(`LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true`) is sent as it is (`Authorization: Token`).
"""

from __future__ import annotations

import logging
import os

import httpx

from components.data.corpus import normalise_text
from components.data.http import USER_AGENT
from components.errors import UserError

logger = logging.getLogger(__name__)


class LabelStudioError(UserError):
    """Label Studio cannot be reached, refuses the token, or answers with an error."""


class LabelStudio:
    def __init__(self, url: str, token: str, token_env: str, timeout_s: float = 300.0):
        self.url = url.rstrip("/")
        self.token_env = token_env
        self.http = httpx.Client(base_url=self.url, timeout=timeout_s, headers={"User-Agent": USER_AGENT})
        if token.count(".") == 2:  # a personal access token (JWT): trade it for an access token
            access = self.call("POST", "/api/token/refresh", json={"refresh": token}).get("access")
            if not access:
                raise LabelStudioError(
                    f"{self.url}/api/token/refresh: no access token for the token in {token_env}"
                )
            self.http.headers["Authorization"] = f"Bearer {access}"
        else:
            self.http.headers["Authorization"] = f"Token {token}"

    @classmethod
    def from_env(cls, url: str, token_env: str) -> LabelStudio:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise LabelStudioError(
                f"set the environment variable {token_env} to your Label Studio access token "
                "(Label Studio: Account & Settings)"
            )
        return cls(url, token, token_env)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs):
        """The JSON answer to one request; a LabelStudioError says what went wrong and where."""
        where = f"{self.url}{path}"
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as e:
            raise LabelStudioError(f"cannot reach Label Studio at {self.url} ({e}); is it running?") from None
        except httpx.HTTPError as e:
            raise LabelStudioError(f"{where}: {e!r}") from None
        if response.status_code in (401, 403):
            raise LabelStudioError(f"{where}: Label Studio refused the token in {self.token_env} "
                                   f"(HTTP {response.status_code})")  # fmt: skip
        if response.status_code >= 400:
            raise LabelStudioError(f"{where}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            return response.json()
        except ValueError:
            raise LabelStudioError(f"{where}: not a JSON answer: {response.text[:200]!r}") from None

    def project_id(self, project: str, label_config: str | None = None) -> int:
        """The id of the project numbered or titled `project`; one titled so is created with
        `label_config` when there is none and a config is given."""
        if project.isdigit():
            return int(self.call("GET", f"/api/projects/{project}")["id"])
        found = self.call("GET", "/api/projects", params={"title": project, "page_size": 1000})
        ids = [p["id"] for p in found.get("results", []) if p.get("title") == project]
        if len(ids) > 1:
            raise LabelStudioError(f"{self.url}: {len(ids)} projects titled {project!r} ({ids}); give its id")
        if ids:
            return int(ids[0])
        if label_config is None:
            raise LabelStudioError(f"{self.url}: no project titled {project!r}")
        created = self.call("POST", "/api/projects", json={"title": project, "label_config": label_config})
        logger.info("created Label Studio project %r (id %d) at %s", project, created["id"], self.url)
        return int(created["id"])

    def export(self, project_id: int) -> list[dict]:
        """Every task of the project with its annotations: Label Studio's JSON export."""
        params = {"exportType": "JSON", "download_all_tasks": "true"}
        return self.call("GET", f"/api/projects/{project_id}/export", params=params)

    def push(self, project_id: int, tasks: list[dict]) -> dict:
        """Add the tasks whose description the project does not hold yet; returns the counts."""
        held = {normalise_text(task["data"].get("text", "")) for task in self.export(project_id)}
        new = [task for task in tasks if normalise_text(task["data"]["text"]) not in held]
        if new:
            answer = self.call("POST", f"/api/projects/{project_id}/import", json=new)
            if answer.get("task_count") != len(new):
                raise LabelStudioError(
                    f"{self.url}: sent {len(new)} tasks, Label Studio took {answer.get('task_count')}"
                )
        return {"project": project_id, "added": len(new), "already_there": len(tasks) - len(new)}
