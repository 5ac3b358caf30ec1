"""Long-history text columns: slid on by a new hour they equal a fresh computation, and the
rendered files parse back into the columns they came from (the next build's state)."""
from __future__ import annotations

import json

import pytest

from build.render.long_history import (HOUR_S, compute_history_text, parse_history_files,
                                render_history_files, slide_history_text)

END_HOUR = 1_795_640_400  # 2026-11-25T21:00:00Z
HOST = "api.kraken.com"


def _rows(end_hour: int) -> list[tuple]:
    """(region, probe, hour_ts, median, p95, loss) over 91 days to end_hour, with gaps, NULL
    figures and one series that stops 40 days before the end."""
    rows = []
    for region, probe, stop_h in (("ewr", "icmp", 0), ("ewr", "tcp", 0), ("fra", "icmp", 960)):
        for h in range(91 * 24 - 1, stop_h - 1, -1):
            if h % 17 == 3:
                continue  # no rollup that hour
            median = None if h % 23 == 5 else round(10 + (h * 7919 % 1000) / 37, 6)
            rows.append((region, probe, end_hour - h * HOUR_S, median,
                         None if median is None else median * 1.3, (h % 5) / 8))
    return sorted(rows, key=lambda r: (r[0], r[1], r[2]))


def _pages(host: str, text) -> dict[int, str]:
    files = render_history_files(host, text)
    return {days: files[f"api/v1/latency/{host}/history-{days}d.json"].decode()
            for days in (30, 90)}


@pytest.mark.parametrize("shift_h", [1, 3])
def test_sliding_columns_on_by_new_hours_equals_computing_them_afresh(shift_h):
    end = END_HOUR + shift_h * HOUR_S
    rows = _rows(end)
    old = compute_history_text([r for r in rows if r[2] <= END_HOUR], END_HOUR)
    slid = slide_history_text(old, [r for r in rows if r[2] > END_HOUR], end)
    assert slid == compute_history_text(rows, end)
    assert _pages(HOST, slid) == _pages(HOST, compute_history_text(rows, end))


def test_rendered_history_files_parse_back_into_their_columns():
    text = compute_history_text(_rows(END_HOUR), END_HOUR)
    assert len(text.columns) == 3
    assert parse_history_files(HOST, _pages(HOST, text), END_HOUR) == text


def _damaged(page: str) -> str:
    doc = json.loads(page)
    doc["regions"]["ewr"]["icmp"]["loss"].pop()
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("case", ["other host", "other hour", "column too short", "not json",
                                  "a window missing", "extra field"])
def test_a_page_that_is_not_this_hosts_output_for_that_hour_is_not_used(case):
    pages = _pages(HOST, compute_history_text(_rows(END_HOUR), END_HOUR))
    host, end = HOST, END_HOUR
    if case == "other host":
        host = "www.nyse.com"
    elif case == "other hour":
        end = END_HOUR - HOUR_S
    elif case == "column too short":
        pages[90] = _damaged(pages[90])
    elif case == "not json":
        pages[30] = pages[30][:-100]
    elif case == "a window missing":
        pages[30] = pages[30].replace('"fra":', '"sin":')  # fra only in the 90-day page
    else:
        pages[90] = pages[90].replace('"step_s":3600}', '"step_s":3600,"x":[1]}', 1)
    assert parse_history_files(host, pages, end) is None
