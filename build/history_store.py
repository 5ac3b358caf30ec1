"""Long-history text columns kept between builds under the cache folder: `history/{host}.json`
per target and `history/index.json` (the end hour, the results rowid late rows were checked up
to, the database's marker and each target's output key). A missing or unreadable file only
means that target is computed from the database again."""
from __future__ import annotations

import json
import os
from pathlib import Path

from build.long_history import HistoryText

STATE_VERSION = 1
_DIR = "history"
_INDEX = "index.json"


def load_history_index(cache_dir: Path) -> dict | None:
    doc = _read(Path(cache_dir) / _DIR / _INDEX)
    return doc if doc is not None and doc.get("version") == STATE_VERSION else None


def save_history_index(cache_dir: Path, index: dict) -> None:
    _write(Path(cache_dir) / _DIR / _INDEX, {"version": STATE_VERSION, **index})


def load_history_text(cache_dir: Path, host: str, end_hour: int) -> HistoryText | None:
    """The stored columns of host if they end at end_hour, else None."""
    doc = _read(Path(cache_dir) / _DIR / f"{host}.json")
    if doc is None or doc.get("version") != STATE_VERSION or doc.get("end_hour") != end_hour:
        return None
    try:
        columns = {(region, probe): {int(d): cols for d, cols in windows.items()}
                   for region, probe, windows in doc["columns"]}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return HistoryText(end_hour, columns)


def save_history_text(cache_dir: Path, host: str, text: HistoryText) -> None:
    columns = [[region, probe, windows] for (region, probe), windows in text.columns.items()]
    _write(Path(cache_dir) / _DIR / f"{host}.json",
           {"version": STATE_VERSION, "end_hour": text.end_hour, "columns": columns})


def _read(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
