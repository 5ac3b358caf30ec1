"""The collector's local spool: one fsync'd JSONL segment per round, removed once central has
stored it. Segments drain oldest first; the spool is capped by bytes, dropping the oldest
segments with a warning rather than growing without bound.

Layout of the spool folder:
    {round_ts:012d}.jsonl   a round's results, one ProbeResult.to_json() per line
    last_round              the newest round_ts written, so a restart knows what is done
    rejected/               segments central refused as invalid (kept for a human to read)
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("nettrace.spool")
SUFFIX = ".jsonl"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # about six days of 15-minute rounds


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    round_ts: int
    lines: list[bytes]  # one result JSON object each, without the newline


def _write_durably(path: Path, data: bytes) -> None:
    """Write via a temporary name, fsync the file, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def append_round(spool_dir: Path, round_ts: int, results: list[dict]) -> Path:
    """Spool one round's results durably (no segment for an empty round) and record it as
    the last round written. Returns the segment's path."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() for r in results]
    path = spool_dir / f"{round_ts:012d}{SUFFIX}"
    if lines:
        _write_durably(path, b"".join(line + b"\n" for line in lines))
    _write_durably(spool_dir / "last_round", str(round_ts).encode())
    return path


def last_round(spool_dir: Path) -> int | None:
    try:
        return int((spool_dir / "last_round").read_text())
    except (FileNotFoundError, ValueError):
        return None


def pending(spool_dir: Path) -> list[Path]:
    """Segments waiting to be pushed, oldest round first."""
    if not spool_dir.is_dir():
        return []
    return sorted(p for p in spool_dir.glob(f"*{SUFFIX}") if p.stem.isdigit())


def read_segment(path: Path) -> Segment:
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    return Segment(path, int(path.stem), lines)


def remove(segment: Segment) -> None:
    segment.path.unlink(missing_ok=True)


def reject(segment: Segment, reason: str) -> Path | None:
    """Move a segment central refused out of the queue, keeping it for inspection. Returns
    where it went, or None when the cap dropped it while it was being pushed."""
    folder = segment.path.parent / "rejected"
    folder.mkdir(exist_ok=True)
    target = folder / segment.path.name
    try:
        os.replace(segment.path, target)
    except FileNotFoundError:
        log.error("central rejected spooled round %s: %s; already dropped by the spool cap",
                  segment.round_ts, reason)
        return None
    log.error("central rejected spooled round %s (%d results): %s; moved to %s",
              segment.round_ts, len(segment.lines), reason, target)
    return target


def enforce_cap(spool_dir: Path, max_bytes: int) -> list[Path]:
    """Drop the oldest segments until the spool fits max_bytes; warn for each one dropped.
    The newest segment is always kept."""
    segments = pending(spool_dir)
    sizes = {p: p.stat().st_size for p in segments}
    total = sum(sizes.values())
    dropped = []
    for path in segments[:-1]:
        if total <= max_bytes:
            break
        log.warning("spool over its cap of %d bytes: dropping the oldest unpushed round %s "
                    "(%d bytes); central will never receive it", max_bytes, int(path.stem), sizes[path])
        path.unlink(missing_ok=True)
        total -= sizes[path]
        dropped.append(path)
    return dropped
