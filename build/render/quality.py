"""The signal feed's quality, published: api/v1/signals/quality.json (free, on the CDN) and the
plain data the "Signal quality" page renders. No peer says how often its alerts are wrong."""
from __future__ import annotations

from dataclasses import dataclass

from build.compute.events import DETECTOR_VERSION, EVENT_SCHEMA
from build.compute.model import SiteModel
from build.compute.quality import LiveQuality, SignalQuality
from build.render.json_api import API, dump_json, envelope, rounded
from collect.records import iso_utc

QUALITY_PATH = f"{API}/signals/quality.json"


@dataclass(frozen=True, slots=True)
class QualityRow:
    type: str
    measured: dict | None  # the benchmark's row for this type, as written
    live_events: int
    live_per_series_week: str
    live_median_duration: str
    live_global_share: str


@dataclass(frozen=True, slots=True)
class QualityPage:
    detector: str
    measured_version: str | None
    measured_on: str | None
    measured_command: str | None
    live_window: str
    series: int
    rows: tuple[QualityRow, ...]


def render_quality_json(model: SiteModel) -> dict[str, bytes]:
    q = model.quality
    return {QUALITY_PATH: dump_json(envelope(
        "signal-quality", model.generated_at, event_schema=EVENT_SCHEMA, detector=DETECTOR_VERSION,
        measured=q.measured,
        live={"since": iso_utc(q.live_since_ts), "until": iso_utc(q.live_until_ts),
              "series": q.series, "types": {x.type: _live_doc(x) for x in q.live}}))}


def build_quality_page(q: SignalQuality) -> QualityPage:
    measured = q.measured or {}
    by_type = measured.get("types") if isinstance(measured.get("types"), dict) else {}
    rows = tuple(QualityRow(x.type, by_type.get(x.type), x.events,
                            _number(x.per_series_week, 3), _duration(x.median_duration_s),
                            _percent(x.global_share)) for x in q.live)
    return QualityPage(DETECTOR_VERSION, measured.get("detector_version"),
                       measured.get("measured_on"), measured.get("command"),
                       f"{iso_utc(q.live_since_ts)[:10]} to {iso_utc(q.live_until_ts)[:10]}",
                       q.series, rows)


def _live_doc(x: LiveQuality) -> dict:
    return {"events": x.events, "events_per_series_week": rounded(x.per_series_week, 4),
            "median_duration_s": rounded(x.median_duration_s, 0),
            "global_share": rounded(x.global_share, 4)}


def _number(v: float | None, digits: int) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.0f} %"
