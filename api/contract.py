"""The one table of what the API sells: tiers (what a key may call, how often, how far back) and
every endpoint, free CDN file or keyed proxy route. The proxy enforces it (proxy/access.py,
proxy/params.py); the build renders it into the pricing table, api/v1/index.json and, through
api/openapi.py, api/v1/openapi.json."""
from __future__ import annotations

from dataclasses import dataclass, field

HOUR_S = 3600
DAY_S = 24 * HOUR_S  # quotas count calls per UTC day

# Features an endpoint may require; a tier grants a set of them. Ordered as the pricing table
# lists them, with the label it shows.
LATENCY, RANKINGS, ROUTES, SIGNALS, COMPARE, COLOCATION, SESSIONS, WEBHOOKS, EXPORT, STREAM = (
    "latency", "rankings", "routes", "signals", "compare", "colocation", "sessions", "webhooks",
    "export", "stream")
FEATURE_LABELS = {LATENCY: "latest latency", RANKINGS: "rankings", ROUTES: "routes",
                  SIGNALS: "quant signals", COMPARE: "compare",
                  COLOCATION: "where to host: full ranking",
                  SESSIONS: "trading sessions: 7 and 30 days", WEBHOOKS: "webhook alerts",
                  EXPORT: "bulk export", STREAM: "WebSocket stream"}


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    price_usd_per_month: int
    calls_per_day: int | None  # None: unlimited (still counted for `keys usage`)
    history_hours: int
    features: frozenset[str]


_FREE = frozenset({LATENCY, RANKINGS})
_PRO = _FREE | {ROUTES, SIGNALS, COMPARE, COLOCATION, SESSIONS, WEBHOOKS}
_ENTERPRISE = _PRO | {EXPORT, STREAM}

# Ordered cheapest first: the first tier granting a feature is the one a 403 names.
TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("free", 0, calls_per_day=100, history_hours=24, features=_FREE),
        Tier("pro", 249, calls_per_day=10_000, history_hours=30 * 24, features=_PRO),
        Tier("enterprise", 2_499, calls_per_day=None, history_hours=90 * 24,
             features=_ENTERPRISE),
    )
}
MAX_HISTORY_HOURS = max(t.history_hours for t in TIERS.values())


def tier_for_feature(feature: str) -> Tier:
    """The cheapest tier that grants feature (StopIteration for an unknown feature)."""
    return next(t for t in TIERS.values() if feature in t.features)


# Limits of the keyed routes' parameters: the proxy answers 400 beyond them.
MAX_PARAM_CHARS = 200
MAX_COMPARE = 10  # hosts in one /compare
MAX_HOST_CHARS = 253  # RFC 1035, without the trailing dot
UNIX_PATTERN = "-?[0-9]{1,11}"
EXPORT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
HOST_PATTERN = "[A-Za-z0-9][A-Za-z0-9-]*(\\.[A-Za-z0-9-]+)+"  # as the catalog writes hosts
# Signal events: their types and severities (lowest first), which webhooks filter on.
EVENT_TYPES = ("level_shift", "spike", "loss", "route_change", "divergence", "trend")
SEVERITIES = ("info", "warning", "critical")
WEBHOOK_FORMATS = ("json", "slack", "discord")
MAX_WEBHOOKS_PER_KEY = 10
MAX_WEBHOOK_TARGETS = 100  # hosts one webhook may filter on
MAX_WEBHOOK_CATEGORIES = 20
WEBHOOK_ID_PATTERN = "wh_[A-Za-z0-9]{20}"
# A host or slug in a path: its file name (with the suffix) must fit the proxy's 200-character path
# segments (proxy/files.py); longer ones answer 400 or 404.
MAX_PATH_NAME_CHARS = 190
_API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    where: str  # path | query
    text: str
    schema: dict = field(default_factory=lambda: {"type": "string"})  # JSON Schema of the value
    required: bool = False  # path parameters always are
    example: str = ""


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str  # OpenAPI template; {host}, {host2}, {slug}, {day}, {webhook_id} filled in examples
    served_by: str  # cdn (public/, no key) | proxy (Authorization: Bearer nt_...)
    feature: str | None  # what a key needs; None: a free file that needs no key
    summary: str
    params: tuple[Param, ...] = ()
    answer: str = "Document"  # a JSON schema of api/openapi.py, or Prometheus|Svg|Png|Export|WebSocket
    query_example: str = ""
    description: str = ""
    method: str = "get"  # get | post (answers 201) | delete (answers 204)
    request: str | None = None  # a JSON schema of api/openapi.py: the body a post sends

    @property
    def tier(self) -> str:
        """The cheapest tier that may call it."""
        return "free" if self.feature is None else tier_for_feature(self.feature).name


HOST = Param("host", "path", "a target's host, as in targets.json",
             {"type": "string", "pattern": f"^{HOST_PATTERN}$", "maxLength": MAX_PATH_NAME_CHARS},
             example="api.binance.com")
CATEGORY = Param("category", "query", "a category slug",
                 {"type": "string", "maxLength": MAX_PARAM_CHARS}, example="Crypto Exchanges")
_INSTANT = {"anyOf": [{"type": "string", "format": "date-time"},
                      {"type": "string", "format": "date"},
                      {"type": "string", "pattern": f"^{UNIX_PATTERN}$"}]}
_REGION = Param("region", "path", "a region code, as in targets.json",
                {"type": "string", "pattern": "^[a-z]{3}$"}, example="fra")
WEBHOOK_ID = Param("webhook_id", "path", "a webhook's id, as POST /api/v1/webhooks answered it",
                   {"type": "string", "pattern": f"^{WEBHOOK_ID_PATTERN}$"},
                   example="wh_0123456789ABCDEFGHIJ")
IN_SESSION = Param("in_session", "query", "only events that opened in (true) or out of (false) "
                   "their market's session", {"type": "string", "enum": ["true", "false"]})
_HOSTS = f"{HOST_PATTERN}(,{HOST_PATTERN}){{0,{MAX_COMPARE - 1}}}"

ENDPOINTS = (
    Endpoint(f"{_API}/index.json", "cdn", None, "These docs: every endpoint, its tier, an example"),
    Endpoint(f"{_API}/openapi.json", "cdn", None, "OpenAPI 3.1 description of the API",
             answer="OpenApi"),
    Endpoint(f"{_API}/targets.json", "cdn", None, "Regions, categories and targets"),
    Endpoint(f"{_API}/latency/{{host}}.json", "cdn", None,
             "Latest figures per region and probe", (HOST,)),
    Endpoint(f"{_API}/latency/{{host}}/history.json", "cdn", None,
             "24 h of rounds per region and probe", (HOST,)),
    Endpoint(f"{_API}/rankings.json", "cdn", None, "Per region, every target fastest first"),
    Endpoint(f"{_API}/rankings/{{slug}}.json", "cdn", None, "Rankings within one category",
             (Param("slug", "path", "a category slug, as in targets.json",
                    {"type": "string", "pattern": "^[a-z0-9-]+$", "maxLength": MAX_PATH_NAME_CHARS},
                    example="crypto-exchanges"),)),
    Endpoint(f"{_API}/badge/{{host}}.json", "cdn", None,
             "shields.io endpoint badge (shields' own schema)", (HOST,), "Shields"),
    Endpoint(f"{_API}/signals/quality.json", "cdn", None,
             "How often the signal detector is wrong, measured and live",
             description="The detector's false events per series-week and its detection power "
                         "per event type, from the benchmark (with the detector version and the "
                         "date measured), beside live figures from production: events per "
                         "series-week by type, median duration, and the share global in scope."),
    Endpoint("/metrics", "cdn", None, "Prometheus text exposition (version 0.0.4)",
             answer="Prometheus"),
    Endpoint("/feeds/signals.atom", "cdn", None,
             "Atom feed of global-scope signal events, an hour late", answer="Atom",
             description="The latest 100 events seen from 4 or more regions, each as it stood "
                         "an hour before the build (the real-time feed of every scope is "
                         "/api/v1/feeds/signals.atom, Pro)."),
    Endpoint("/widget/{host}.svg", "cdn", None, "Latency badge of a target's best region",
             (HOST,), "Svg"),
    Endpoint("/widget/{host}.png", "cdn", None, "The same badge as a PNG", (HOST,), "Png"),
    Endpoint("/widget/{host}/{region}.svg", "cdn", None, "Latency badge of one region",
             (HOST, _REGION), "Svg"),
    Endpoint(f"{_API}/targets", "proxy", LATENCY, "Targets (as targets.json)"),
    Endpoint(f"{_API}/latency/{{host}}", "proxy", LATENCY,
             "Latest figures (as latency/{host}.json)", (HOST,)),
    Endpoint(f"{_API}/latency/{{host}}/history", "proxy", LATENCY,
             "History from rounds or hourly rollups; hours capped by tier (24, 720, 2160)",
             (HOST, Param("hours", "query", f"hours back, 1..{MAX_HISTORY_HOURS}",
                          {"type": "integer", "minimum": 1, "maximum": MAX_HISTORY_HOURS})),
             query_example="?hours=24"),
    Endpoint(f"{_API}/rankings", "proxy", RANKINGS, "Rankings, optionally of one category",
             (CATEGORY,), query_example="?category={slug}"),
    Endpoint(f"{_API}/signals", "proxy", SIGNALS,
             "Signal events: every open one, and those resolved in the last 24 h", (IN_SESSION,),
             answer="Signals", query_example="?in_session=true",
             description="An event opens at its onset, stays open while its condition holds and "
                         "resolves once the series has been back to normal for a stated number "
                         "of rounds; its id stays the same throughout."),
    Endpoint(f"{_API}/signals/history", "proxy", SIGNALS,
             "Every signal event of the tier's history window", (IN_SESSION,), answer="Signals",
             query_example="?in_session=false"),
    Endpoint(f"{_API}/routes/{{host}}", "proxy", ROUTES,
             "Current hop lists and route changes per region", (HOST,)),
    Endpoint(f"{_API}/sessions/{{host}}", "proxy", SESSIONS,
             "Latency and availability in the market's session hours next to all hours",
             (HOST,),
             description="Whether the target's market is open at the latest round, its next "
                         "open and close (exchange_calendars: half days, holidays, breaks; "
                         "crypto venues are open 24/7), and per region the median RTT and the "
                         "availability over the session hours and over all hours of the last "
                         "24 h, 7 d and 30 d, from hourly rollups (the public latency file has "
                         "the 24 h figures)."),
    Endpoint(f"{_API}/compare", "proxy", COMPARE, "Side-by-side figures of several targets",
             (Param("targets", "query", "comma-separated hosts",
                    {"type": "string", "pattern": f"^{_HOSTS}$", "maxLength": MAX_PARAM_CHARS},
                    required=True, example="api.kraken.com,api.binance.com"),),
             query_example="?targets={host},{host2}"),
    Endpoint(f"{_API}/colocation", "proxy", LATENCY, "Every target's best region to host in",
             description="Per target, the region with the lowest 7-day median RTT (icmp, or tcp "
                         "where icmp is blocked) and that median in ms. The full ranking is "
                         "/api/v1/colocation/{host}."),
    Endpoint(f"{_API}/colocation/{{host}}", "proxy", COLOCATION,
             "Every region ranked for one target, with its gap to the best", (HOST,),
             description="The regions ranked by 7-day median RTT (icmp, or tcp where icmp is "
                         "blocked), each region's gap to the best with a 95 % confidence interval "
                         "(bootstrap over hourly medians), how often the best region changed over "
                         "the 7 days, and a one-line verdict."),
    Endpoint(f"{_API}/colocation/pairs", "proxy", COLOCATION,
             "For each pair of venues, the region closest to both", (CATEGORY,),
             query_example="?category={slug}",
             description="For every pair of targets in a category (every category when none is "
                         "named), the region with the lowest worst-of-both 7-day median RTT: "
                         "where a cross-venue strategy should run."),
    Endpoint(f"{_API}/feeds/signals.atom", "proxy", SIGNALS,
             "Atom feed of signal events in real time", (IN_SESSION,), "Atom",
             "?in_session=true",
             description="The latest 100 signal events of every scope as Atom entries, each "
                         "updated as it resolves (the free feed, /feeds/signals.atom, holds "
                         "global-scope events an hour late)."),
    Endpoint(f"{_API}/webhooks", "proxy", WEBHOOKS, "Your webhooks, with their state",
             answer="Webhooks"),
    Endpoint(f"{_API}/webhooks", "proxy", WEBHOOKS, "Register a webhook",
             answer="WebhookCreated", method="post", request="WebhookRequest",
             description="Each signal event's opening and resolution that passes the filters "
                         "is POSTed to url, signed with X-NetTrace-Signature: t=<unix s>,v1=<hex "
                         "HMAC-SHA256(secret, \"{t}.\" + body)>, with its id in "
                         "X-NetTrace-Delivery; retried with exponential backoff for 24 h; the "
                         "webhook is disabled after 50 consecutive failures. The secret is "
                         f"shown only in this answer. At most {MAX_WEBHOOKS_PER_KEY} per key; "
                         "url must be https on a public address."),
    Endpoint(f"{_API}/webhooks/{{webhook_id}}", "proxy", WEBHOOKS, "Remove a webhook",
             (WEBHOOK_ID,), answer="Empty", method="delete"),
    Endpoint(f"{_API}/webhooks/{{webhook_id}}/deliveries", "proxy", WEBHOOKS,
             "A webhook's last 100 delivery attempts, with status and latency", (WEBHOOK_ID,),
             answer="Deliveries"),
    Endpoint(f"{_API}/export", "proxy", EXPORT, "Bulk export of results by UTC day",
             (Param("from", "query", "start: a date, an RFC 3339 date-time or unix seconds; "
                    "default 24 h before to; never before the tier's history", _INSTANT),
              Param("to", "query", "end: a date (its whole day), an RFC 3339 date-time or unix "
                    "seconds; default now", _INSTANT),
              Param("format", "query", "file format",
                    {"type": "string", "enum": list(EXPORT_FORMATS)})),
             "Export", "?from={day}&to={day}&format=csv"),
    Endpoint(f"{_API}/stream", "proxy", STREAM,
             "WebSocket: each new round's figures and signals as JSON messages",
             answer="WebSocket",
             description="Sends {\"type\": \"subscribed\"}, then one {\"type\": \"round\", "
                         "\"region\", \"round_id\", \"round_ts\", \"results\": [...]} per region "
                         "and round as they are ingested (results in the wire form of the "
                         "export's JSON lines), and one {\"type\": \"opened\"|\"resolved\", "
                         "\"seq\", \"round_ts\", \"signal\": {...}} per signal event transition. "
                         "A browser offers the key as the subprotocols ['nettrace', key] (the "
                         "server selects 'nettrace'); never in the URL. 401/403/429 (also "
                         "too_many_streams: 4 per key) come as JSON before the upgrade, and a "
                         "plain GET answers 426; a revoked or downgraded key is closed with 1008 "
                         "within 1 s, a client too slow to keep up with 1013."),
)
