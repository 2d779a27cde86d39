"""Sampling assay descriptions: ChEMBL's web services (a local server speaking the assay endpoint's
JSON over real HTTP), a ChEMBL-schema SQLite file, and the bundled-sample path of the CLI."""

import email.utils
import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import typer

from components.data.chembl import ChemblClient, ChemblError, SqliteSource, WebSource, sample_assays
from components.data.corpus import CorpusFilter, normalise_text
from scripts.fetch_chembl import main as fetch_main

TYPES = "BFA"
TARGETS = ["JNK2", "PDE4B", "MAO-A", "CDK9", "EGFR", "BACE1", "HDAC6", "PARP1", "ROCK2", "LSD1"]


def chembl_assays() -> list[dict]:
    """47 assays as ChEMBL returns them, with two duplicate descriptions and one missing."""
    assays = []
    for i in range(1, 48):
        description = f"Inhibition of human {TARGETS[i % 10]} assessed as activity at {i} uM (assay {i})"
        assays.append(
            {
                "assay_chembl_id": f"CHEMBL{1000 + i}",
                "assay_type": TYPES[i % 3],
                "description": description,
                "assay_organism": "Homo sapiens",
                "confidence_score": 9,
                "document_chembl_id": f"CHEMBL{9000 + i // 5}",
            }
        )
    assays[10]["description"] = assays[4]["description"].upper()  # same text, other case
    assays[20]["description"] = "  " + assays[7]["description"].replace(" ", "  ")
    assays[30]["description"] = None
    return assays


class ChemblServer:
    """The assay endpoint of ChEMBL's web services on 127.0.0.1, with a request log and a fault queue."""

    def __init__(self):
        self.assays = chembl_assays()
        self.log: list[dict] = []
        self.faults: dict[int, tuple[int, dict]] = {}  # request number -> (status, headers)
        self.down = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.handle(self)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}/chembl/api/data"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        url = urlparse(request.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        number = len(self.log) + 1
        status, headers = self.faults.pop(number, (200, {}))
        if self.down:
            status, headers = 503, {}
        if url.path != "/chembl/api/data/assay.json":
            status = 404
        self.log.append({"time": time.monotonic(), "status": status, **query})
        body = b"{}"
        if status == 200:
            body = json.dumps(self.page(query)).encode()
        request.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def page(self, query: dict) -> dict:
        rows = self.assays
        if "assay_type" in query:
            rows = [a for a in rows if a["assay_type"] == query["assay_type"]]
        if "assay_type__in" in query:
            rows = [a for a in rows if a["assay_type"] in query["assay_type__in"].split(",")]
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
        return {
            "assays": rows[offset : offset + limit],
            "page_meta": {
                "limit": limit,
                "offset": offset,
                "total_count": len(rows),
                "next": None
                if offset + limit >= len(rows)
                else f"/chembl/api/data/assay.json?offset={offset + limit}",
                "previous": None,
            },
        }

    def page_offsets(self) -> list[int]:
        return [int(r["offset"]) for r in self.log if r["status"] == 200 and r.get("limit") != "1"]


@pytest.fixture
def server():
    s = ChemblServer()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def web_sample(server, cache_dir, n=12, seed=3, types=(), retries=3):
    client = ChemblClient(server.base_url, rate=200, retries=retries, backoff=0.01)
    try:
        return sample_assays(WebSource(client, types, 5, cache_dir), n, seed, CorpusFilter())
    finally:
        client.close()


def test_web_sample_is_deterministic_and_retries_429_and_500(server, tmp_path):
    server.faults = {1: (429, {"Retry-After": "1"}), 3: (500, {})}
    first = web_sample(server, tmp_path / "a")
    statuses = [r["status"] for r in server.log]
    assert statuses[:2] == [429, 200] and 500 in statuses
    assert server.log[1]["time"] - server.log[0]["time"] >= 0.95  # waited as Retry-After said
    assert len(first) == 12
    assert len({normalise_text(r["text"]) for r in first}) == 12
    assert all(r["text"].strip() for r in first)
    # The web services give CHEMBL ids only: no numeric assay_id.
    assert set(first[0]) == {"assay_id", "assay_chembl_id", "assay_type", "text"}
    assert first[0]["assay_id"] is None

    again = web_sample(server, tmp_path / "b")  # fresh cache: fetched anew, same sample
    assert again == first
    other_seed = web_sample(server, tmp_path / "c", seed=4)
    assert [r["assay_chembl_id"] for r in other_seed] != [r["assay_chembl_id"] for r in first]
    in_order = [f"CHEMBL{1000 + i}" for i in range(1, 13)]
    assert [r["assay_chembl_id"] for r in first] != in_order


def test_web_sample_resumes_with_only_the_missing_pages(server, tmp_path):
    cache = tmp_path / "pages"
    # An outage after three requests: the run fails once its retries are spent.
    original = server.handle

    def outage_after_three(request):
        server.down = len(server.log) >= 3
        original(request)

    server.handle = outage_after_three
    with pytest.raises(ChemblError, match=r"127\.0\.0\.1.*assay\.json"):
        web_sample(server, cache, n=20, retries=1)
    fetched_before = server.page_offsets()
    assert len(fetched_before) == 2  # count + two pages got through
    server.handle = original
    server.down = False
    server.log.clear()

    resumed = web_sample(server, cache, n=20)
    fetched_after = server.page_offsets()
    assert not set(fetched_after) & set(fetched_before)
    assert all(r.get("limit") != "1" for r in server.log)  # the count came from the cache too
    server.log.clear()
    assert resumed == web_sample(server, tmp_path / "fresh", n=20)


def test_assay_type_filter_is_sent_and_kept(server, tmp_path):
    only_b = web_sample(server, tmp_path / "b", n=8, types=["B"])
    assert {r["assay_type"] for r in only_b} == {"B"}
    assert all(r.get("assay_type") == "B" for r in server.log)
    server.log.clear()
    b_or_f = web_sample(server, tmp_path / "bf", n=20, types=["B", "F"])
    assert {r["assay_type"] for r in b_or_f} == {"B", "F"}
    assert all(r.get("assay_type__in") == "B,F" for r in server.log)


def test_unreachable_chembl_names_the_url(tmp_path, free_port):
    port = free_port()
    client = ChemblClient(f"http://127.0.0.1:{port}/chembl/api/data", retries=1, backoff=0.01)
    with pytest.raises(
        ChemblError, match=rf"cannot read ChEMBL at http://127\.0\.0\.1:{port}/chembl/api/data/assay"
    ):
        WebSource(client, [], 5, tmp_path).count()


def test_retry_after_as_a_date_is_honoured_and_spent_retries_name_the_url(server):
    in_2_s = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1-2 s from now
    server.faults = {1: (503, {"Retry-After": in_2_s})}
    client = ChemblClient(server.base_url, rate=200, retries=1, backoff=0.01)
    assert client.get_json("assay.json", {"limit": 1})["page_meta"]["total_count"] == 47
    assert server.log[1]["time"] - server.log[0]["time"] >= 0.9
    server.down = True
    with pytest.raises(
        ChemblError,
        match=r"cannot read ChEMBL at http://127\.0\.0\.1:\d+/chembl/api/data/assay\.json "
        r"\(HTTP 503, 2 attempts\)",
    ):
        client.get_json("assay.json", {"limit": 1})
    client.close()


def test_client_error_is_not_retried(server):
    client = ChemblClient(server.base_url.replace("/data", "/nothing"), retries=3, backoff=0.01)
    with pytest.raises(ChemblError, match="HTTP 404"):
        client.get_json("assay.json", {})
    assert len(server.log) == 1


def chembl_sqlite(path):
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE assays (assay_id INTEGER PRIMARY KEY, doc_id INTEGER, description VARCHAR(4000), "
        "assay_type VARCHAR(1), assay_test_type VARCHAR(20), tid INTEGER, chembl_id VARCHAR(20) NOT NULL)"
    )
    db.executemany(
        "INSERT INTO assays (assay_id, doc_id, description, assay_type, tid, chembl_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (i, 1, a["description"], a["assay_type"], 11, a["assay_chembl_id"])
            for i, a in enumerate(chembl_assays(), start=1)
        ],
    )
    db.commit()
    db.close()
    return path


def test_sqlite_sample_is_deterministic_filtered_and_deduplicated(tmp_path):
    path = chembl_sqlite(tmp_path / "chembl_35.db")
    every = sample_assays(SqliteSource(path, []), 100, 0, CorpusFilter())
    assert len(every) == 44  # 47 less two duplicates and one missing description
    first = sample_assays(SqliteSource(path, ["B", "F"]), 10, 7, CorpusFilter())
    assert first == sample_assays(SqliteSource(path, ["B", "F"]), 10, 7, CorpusFilter())
    assert first != sample_assays(SqliteSource(path, ["B", "F"]), 10, 8, CorpusFilter())
    assert {r["assay_type"] for r in first} <= {"B", "F"} and len(first) == 10
    # The dump gives both ids: ChEMBL's numeric assay_id and the CHEMBL id.
    assert all(isinstance(r["assay_id"], int) and r["assay_chembl_id"].startswith("CHEMBL") for r in first)


def test_sqlite_without_the_assays_columns_is_refused(tmp_path):
    path = tmp_path / "other.db"
    sqlite3.connect(path).execute("CREATE TABLE assays (assay_id INTEGER, chembl_id TEXT)").connection.close()
    with pytest.raises(
        ChemblError, match=r"other\.db: table 'assays' lacks column\(s\) \['assay_type', 'description'\]"
    ):
        SqliteSource(path, [])


def write_sample(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def test_cli_sample_source_takes_a_validated_sample(tmp_path):
    records = [
        {
            "assay_id": i,
            "assay_type": "BF"[i % 2],
            "text": f"Inhibition of CDK{i} kinase",
        }
        for i in range(1, 9)
    ]
    records[2]["text"] = " "
    records[3]["text"] = "x" * 2001
    records[5]["text"] = records[0]["text"].lower()
    sample = write_sample(tmp_path / "sample_assays.jsonl", [json.dumps(r) for r in records])
    out = tmp_path / "corpus" / "assays.jsonl"
    fetch_main(out, n=10, seed=1, source="sample", sample=sample, sqlite=tmp_path / "absent.db")
    ids = {json.loads(line)["assay_id"] for line in out.read_text().splitlines()}
    # Empty, over-long and one of the two duplicates are skipped; which duplicate is the sample's order.
    assert len(ids) == 5 and ids >= {2, 5, 7, 8}
    assert len(ids & {1, 6}) == 1

    fetch_main(out, n=2, seed=1, source="sample", assay_type="B", sample=sample)
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(got) == 2 and {r["assay_type"] for r in got} == {"B"}


def test_cli_malformed_sample_line_fails_and_writes_nothing(tmp_path, capsys):
    sample = write_sample(
        tmp_path / "sample.jsonl",
        ['{"assay_id": 1, "assay_type": "B", "text": "Inhibition of JNK2"}', '{"text": '],
    )
    out = tmp_path / "assays.jsonl"
    with pytest.raises(typer.Exit) as failed:
        fetch_main(out, n=1, source="sample", sample=sample)
    assert failed.value.exit_code == 1
    assert f"assets: {sample}:2: malformed JSON" in capsys.readouterr().err
    assert not out.exists() and list(tmp_path.iterdir()) == [sample]
