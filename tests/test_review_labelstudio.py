"""The review loop against a real Label Studio: started from its own venv (`make labelstudio`) on
127.0.0.1 once for the module, with a data folder of its own, and stopped at the end whatever
happens. review-export pushes its tasks into a project it creates with the review's config; a
reviewer answers through Label Studio's API as its UI does (one prediction accepted, one span
corrected, one task skipped, one prediction rejected); review-import pulls the export and makes
the gold file, and reading the same export from a file gives the same. Without the venv the tests
fail: they never skip. The server takes 30-80 s to start on 2 cores."""

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from components.data.records import read_jsonl
from components.review.client import LabelStudio, LabelStudioError
from components.review.tasks import label_config
from scripts.review_export import main as review_export_main
from scripts.review_import import main as review_import_main
from tests.servers import wait_until_answers

ROOT = Path(__file__).resolve().parent.parent
LABEL_STUDIO = ROOT / ".venv-labelstudio" / "bin" / "label-studio"
HANDCHECKED = ROOT / "assets" / "handchecked.jsonl"
USER, PASSWORD = "reviewer@example.com", "review-loop-test"
LEGACY_TOKEN = "0123456789abcdef0123456789abcdef01234567"
PROJECT = "en_assay_ner review (test)"
STARTUP_S = 240


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory, free_port):
    assert LABEL_STUDIO.exists(), f"no {LABEL_STUDIO}: `make labelstudio` builds Label Studio's venv"
    base = tmp_path_factory.mktemp("label_studio")
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(base),
        "LATEST_VERSION_CHECK": "false",  # offline: no call to PyPI at start
        "COLLECT_ANALYTICS": "0",
        # A new organisation refuses the `Token` header otherwise (since 1.17); the test also
        # signs in with a personal access token (JWT), the default.
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
    }
    command = [
        str(LABEL_STUDIO), "start", "--no-browser", "-p", str(port), "--internal-host", "127.0.0.1",
        "--data-dir", str(base / "data"), "--username", USER, "--password", PASSWORD,
        "--user-token", LEGACY_TOKEN,
    ]  # fmt: skip
    log = base / "label_studio.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers("Label Studio", f"{url}/health", process, log, STARTUP_S)
        yield url
    finally:  # the whole process group: the server and anything it started
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def api(url: str, method: str, path: str, **kwargs):
    """A call as the reviewer's browser makes it, with the reviewer's token."""
    response = httpx.request(method, f"{url}{path}", headers={"Authorization": f"Token {LEGACY_TOKEN}"},
                             timeout=60, **kwargs)  # fmt: skip
    assert response.status_code < 400, response.text[:1000]
    return response.json()


def personal_access_token(url: str) -> str:
    """The reviewer's personal access token (a JWT refresh token), as Account & Settings makes it."""
    token = api(url, "POST", "/api/token/", json={})["token"]
    assert token.count(".") == 2
    return token


def write_corpus(tmp_path: Path) -> Path:
    """Twelve real descriptions of the sample with their hand labels standing in for the teacher's."""
    records = [obj for _, obj in read_jsonl(ROOT / "assets" / "tuning.jsonl") if obj["spans"]][40:52]
    path = tmp_path / "annotated.jsonl"
    lines = (
        json.dumps({**obj, "meta": {"assay_id": obj["meta"]["assay_id"], "model_asked": False}})
        for obj in records
    )
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def test_export_push_review_pull_import(label_studio, trained_pipeline, tmp_path, monkeypatch):
    url = label_studio
    monkeypatch.setenv("TEST_LS_LEGACY", LEGACY_TOKEN)
    monkeypatch.setenv("TEST_LS_PAT", personal_access_token(url))
    annotated = write_corpus(tmp_path)
    tasks_path = tmp_path / "review" / "tasks.json"
    push = {
        "model": str(trained_pipeline),
        "k": 6,
        "url": url,
        "project": PROJECT,
        "handchecked": HANDCHECKED,
    }
    review_export_main(annotated, tasks_path, label_config=tmp_path / "review" / "config.xml",
                       token_env="TEST_LS_LEGACY", **push)  # fmt: skip
    sent = json.loads(tasks_path.read_text())

    # The project holds the review's config and the six tasks, predictions and scores as sent.
    (project,) = [p for p in api(url, "GET", "/api/projects")["results"] if p["title"] == PROJECT]
    assert project["label_config"] == label_config().strip()  # as sent, less the final newline
    held = api(url, "GET", "/api/tasks", params={"project": project["id"], "fields": "all", "page_size": 100})
    tasks = {task["data"]["text"]: task for task in held["tasks"]}
    assert sorted(tasks) == sorted(t["data"]["text"] for t in sent) and len(tasks) == 6
    for task in sent:
        (prediction,) = tasks[task["data"]["text"]]["predictions"]
        expected = task["predictions"][0]
        assert (prediction["model_version"], prediction["score"]) == (
            "en_assay_ner_test 0.0.1",
            expected["score"],
        )
        assert prediction["result"] == expected["result"]  # spans, each with its score

    # Pushed again (another run of review-export): nothing is added twice.
    review_export_main(annotated, tasks_path, label_config=tmp_path / "review" / "config.xml",
                       token_env="TEST_LS_PAT", **push)  # fmt: skip
    assert api(url, "GET", "/api/tasks", params={"project": project["id"]})["total"] == 6

    # The reviewer: accepts one prediction, corrects one span of another, skips one task and
    # rejects the spans of a fourth; two stay unreviewed.
    ordered = [tasks[t["data"]["text"]] for t in sent]
    with_spans = [t for t in ordered if t["predictions"][0]["result"]]
    assert len(with_spans) >= 3, "the student must find entities in at least three of the six"
    accepted, corrected, rejected = with_spans[:3]
    skipped = next(t for t in ordered if t not in (accepted, corrected, rejected))

    def submit(task: dict, result: list[dict], **extra) -> None:
        api(url, "POST", f"/api/tasks/{task['id']}/annotations", json={"result": result, **extra})

    submit(accepted, accepted["predictions"][0]["result"])
    fixed = [dict(r, value=dict(r["value"])) for r in corrected["predictions"][0]["result"]]
    first = fixed[0]["value"]
    first["labels"] = ["SUBSTRATE" if first["labels"] == ["TARGET"] else "TARGET"]
    submit(corrected, fixed)
    submit(skipped, [], was_cancelled=True)
    submit(rejected, [])

    # Pulled from the server with the personal access token, then read from the saved export.
    export, gold, report = (
        tmp_path / "review" / "export.json",
        tmp_path / "reviewed.jsonl",
        tmp_path / "review.json",
    )
    review_import_main(export, gold, HANDCHECKED, report, url=url, token_env="TEST_LS_PAT", project=PROJECT)
    records = {obj["text"]: obj for _, obj in read_jsonl(gold)}

    def spans(task: dict) -> list[tuple]:
        return [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]) for r in task]

    assert {
        text: [(s["start"], s["end"], s["label"]) for s in r["spans"]] for text, r in records.items()
    } == {
        accepted["data"]["text"]: spans(accepted["predictions"][0]["result"]),
        corrected["data"]["text"]: spans(fixed),
        rejected["data"]["text"]: [],
    }
    assert records[corrected["data"]["text"]]["meta"]["review"]["task"] == corrected["id"]
    assert records[corrected["data"]["text"]]["meta"]["assay_id"] == corrected["data"]["assay_id"]
    result = json.loads(report.read_text())
    assert result["verdicts"] == {"accepted": 1, "changed": 1, "rejected": 1, "unpredicted": 0}
    assert (result["tasks"], result["reviewed"], result["skipped"], result["unreviewed"]) == (6, 3, 1, 2)
    assert {t["task"]: t["verdict"] for t in result["per_task"]} == {
        accepted["id"]: "accepted", corrected["id"]: "changed", rejected["id"]: "rejected",
        skipped["id"]: "skipped",
    }  # fmt: skip

    from_file = tmp_path / "from_file.jsonl"
    review_import_main(export, from_file, HANDCHECKED, tmp_path / "again.json")
    assert from_file.read_text() == gold.read_text()


def test_a_wrong_token_is_named_by_its_environment_variable(label_studio):
    client = LabelStudio(label_studio, "not-the-token", "MY_LS_TOKEN")
    with pytest.raises(LabelStudioError, match=r"Label Studio refused the token in MY_LS_TOKEN \(HTTP 401\)"):
        client.project_id(PROJECT)
