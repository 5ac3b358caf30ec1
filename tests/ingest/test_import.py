"""`nettrace ingest import`: same validation and idempotency as the endpoint; errors name the
line and the field; a bad file writes nothing."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collect.spool import append_round
from tests.ingest.ingest_fixtures import content_dump, results


def nettrace(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nettrace", *args], capture_output=True,
                          text=True, timeout=60)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_importing_a_file_twice_stores_it_once(tmp_path):
    db, jsonl = tmp_path / "central.db", write_jsonl(tmp_path / "r.jsonl", results(targets=4))
    first = nettrace("ingest", "import", str(jsonl), "--db", str(db))
    assert first.returncode == 0 and "stored 24, duplicates 0" in first.stdout
    again = nettrace("ingest", "import", str(jsonl), "--db", str(db))
    assert again.returncode == 0 and "stored 0, duplicates 24" in again.stdout


def test_a_spool_segment_imports_directly(tmp_path):
    segment = append_round(tmp_path / "spool", 1_795_644_000, results(round_ts=1_795_644_000))
    done = nettrace("ingest", "import", str(segment), "--db", str(tmp_path / "c.db"))
    assert done.returncode == 0 and "stored 18" in done.stdout


def test_a_bad_line_names_line_and_field_and_writes_nothing(tmp_path):
    db = tmp_path / "central.db"
    nettrace("ingest", "import", str(write_jsonl(tmp_path / "ok.jsonl", results(targets=1))), "--db", str(db))
    before = content_dump(db)
    records = results("ord", targets=2)
    records[3]["samples_ms"] = [1.0, "fast"]
    bad = write_jsonl(tmp_path / "bad.jsonl", records)
    done = nettrace("ingest", "import", str(bad), "--db", str(db))
    assert done.returncode == 2
    assert f"{bad}:4: field $.samples_ms[1]" in done.stderr
    assert content_dump(db) == before


def test_malformed_json_names_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(results()[0]) + "\n\n{not json\n")
    done = nettrace("ingest", "import", str(bad), "--db", str(tmp_path / "c.db"))
    assert done.returncode == 2 and f"{bad}:3: malformed JSON" in done.stderr


def test_a_missing_file_is_one_clear_line(tmp_path):
    done = nettrace("ingest", "import", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "c.db"))
    assert done.returncode == 2 and "nope.jsonl" in done.stderr and "Traceback" not in done.stderr
