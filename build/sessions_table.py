"""`python -m build.sessions_table START_TS END_TS [CODE ...]`: the trading sessions of the
market calendars CODE (exchange_calendars names, as the catalog writes them) over [START_TS,
END_TS) unix s, as session_table_to_json's JSON on stdout.

A short-lived process of its own, which the read stage starts about once a month (when the
carried table no longer covers a build): pandas and exchange_calendars (~90 MB, 2 s) never enter
the build's process, whose memory central's 512 MB shares with ingest and the proxy."""
from __future__ import annotations

import json
import sys

from build.compute.sessions import build_session_table, session_table_to_json

USAGE = "usage: python -m build.sessions_table START_TS END_TS [CODE ...]"


def main(argv: list[str]) -> int:
    try:
        start_ts, end_ts = int(argv[0]), int(argv[1])
    except (IndexError, ValueError):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        table = build_session_table(argv[2:], start_ts, end_ts)
    except Exception as exc:  # noqa: BLE001 - the package's errors, in one line for the build
        print(f"build.sessions_table: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(json.dumps(session_table_to_json(table), separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
