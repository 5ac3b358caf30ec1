"""The ingest server's settings (`nettrace ingest serve` flags), apart from the server so the
CLI can show their defaults without importing Starlette."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ServerConfig:
    db_path: Path
    secrets: Mapping[str, bytes]  # region -> push secret
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 30.0
    checkers: int = 2  # processes that parse and validate bodies beside the writer
    max_in_flight: int = 16  # pushes past their headers at once (16 bodies of 8 MiB at most)
    min_free_bytes: int = 64 * 1024 * 1024  # fewer free on the volume: pushes answer 507
    header_timeout_s: float = 10.0  # request line and headers (api/deadlines.py)


def default(name: str):
    """The default of ServerConfig's field name (for the CLI's flags)."""
    return next(f.default for f in fields(ServerConfig) if f.name == name)
