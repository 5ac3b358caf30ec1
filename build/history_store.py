"""Long-history text columns kept between builds under the cache folder: `history/{host}.txt`
per target and `history/index.json` (the end hour, the results rowid late rows were checked up
to, the database's marker and each target's output key). A missing or unreadable file only
means that target is computed from the database again."""
from __future__ import annotations

import json
import os
from pathlib import Path

from build.long_history import HistoryText

STATE_VERSION = 2  # 2: per-target state as header + body lines (.txt)
_DIR = "history"
_INDEX = "index.json"


def load_history_index(cache_dir: Path) -> dict | None:
    doc = _read(Path(cache_dir) / _DIR / _INDEX)
    return doc if doc is not None and doc.get("version") == STATE_VERSION else None


def save_history_index(cache_dir: Path, index: dict) -> None:
    _write(Path(cache_dir) / _DIR / _INDEX, {"version": STATE_VERSION, **index})


def load_history_text(cache_dir: Path, host: str, end_hour: int) -> HistoryText | None:
    """The stored columns of host if they end at end_hour, else None."""
    try:
        lines = (Path(cache_dir) / _DIR / f"{host}.txt").read_text().split("\n")
        head = json.loads(lines[0])
        if head.get("version") != STATE_VERSION or head.get("end_hour") != end_hour \
                or len(head["keys"]) != len(lines) - 1:
            return None
        columns: dict = {}
        for (region, probe, days, name), body in zip(head["keys"], lines[1:]):
            columns.setdefault((region, probe), {}).setdefault(int(days), {})[name] = body
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return HistoryText(end_hour, columns)


def save_history_text(cache_dir: Path, host: str, text: HistoryText) -> None:
    """A JSON header line naming each column, then one line per column body: the bodies are
    plain tokens (digits, commas, null), so JSON-encoding ~1 MB of them per target is skipped."""
    keys, bodies = [], []
    for (region, probe), windows in text.columns.items():
        for days, cols in windows.items():
            for name, body in cols.items():
                keys.append([region, probe, days, name])
                bodies.append(body)
    head = json.dumps({"version": STATE_VERSION, "end_hour": text.end_hour, "keys": keys})
    _write_text(Path(cache_dir) / _DIR / f"{host}.txt", "\n".join([head, *bodies]))


def _read(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write(path: Path, doc: dict) -> None:
    _write_text(path, json.dumps(doc))


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, path)
