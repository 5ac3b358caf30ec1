"""Long-history state kept between builds: `history/index.json` under the cache folder (the end
hour, the results rowid late rows were checked up to, the database's marker and each target's
output key). A target's columns are read back from the previous build's own history files, so
they are never stored twice; a missing or unreadable file only means that target is computed
from the database again."""
from __future__ import annotations

import json
import os
from pathlib import Path

from build.render.long_history import LONG_WINDOWS_D, HistoryText, parse_history_files

STATE_VERSION = 3  # 3: columns read from the previous outputs, no per-target state files
_DIR = "history"
_INDEX = "index.json"


def load_history_index(cache_dir: Path) -> dict | None:
    doc = _read(Path(cache_dir) / _DIR / _INDEX)
    return doc if doc is not None and doc.get("version") == STATE_VERSION else None


def save_history_index(cache_dir: Path, index: dict) -> None:
    folder = Path(cache_dir) / _DIR
    for stale in folder.glob("*.txt"):  # per-target state of version 2, now read from outputs
        stale.unlink(missing_ok=True)
    _write(folder / _INDEX, {"version": STATE_VERSION, **index})


def load_history_text(files: tuple[Path, ...], host: str, end_hour: int) -> HistoryText | None:
    """The columns in host's previous history files (history_paths order) if they end at
    end_hour, else None."""
    try:
        pages = {days: path.read_text() for days, path in zip(LONG_WINDOWS_D, files)}
    except (OSError, UnicodeDecodeError):
        return None
    return parse_history_files(host, pages, end_hour)


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
