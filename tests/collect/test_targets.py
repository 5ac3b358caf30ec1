"""The target catalog: the real targets.toml, and the loader's errors for broken files."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from collections import Counter

import exchange_calendars
import pytest

from collect.errors import CatalogError
from collect.records import PROBES, Region, Target
from collect.targets import (CALENDARS, CATALOG_PATH, Catalog, catalog_toml, category_slug,
                             load_catalog)
from collect.toml_lines import key_lines

MIN_TARGETS = {
    "Crypto Exchanges": 20,
    "Quant APIs": 15,
    "NYSE & Financial": 15,
    "Forex & Brokers": 15,
    "Cloud Providers": 10,
    "CDN & DNS": 10,
    "Gov & Data": 15,
}
# provider the issue names -> the API host the catalog must use for it
NAMED_PROVIDERS = {
    "Binance": "api.binance.com", "Coinbase": "api.exchange.coinbase.com",
    "Kraken": "api.kraken.com", "OKX": "www.okx.com", "Bybit": "api.bybit.com",
    "dYdX": "indexer.dydx.trade", "Gemini": "api.gemini.com", "Alpaca": "api.alpaca.markets",
    "Polygon.io": "api.polygon.io", "IEX": "api.iextrading.com", "Tiingo": "api.tiingo.com",
    "Alpha Vantage": "www.alphavantage.co", "NYSE": "www.nyse.com", "NASDAQ": "api.nasdaq.com",
    "Bloomberg": "www.bloomberg.com", "CME": "www.cmegroup.com", "CBOE": "www.cboe.com",
    "Interactive Brokers": "api.ibkr.com", "OANDA": "api-fxtrade.oanda.com",
    "Robinhood": "api.robinhood.com", "Schwab": "api.schwabapi.com",
    "AWS": "dynamodb.us-east-1.amazonaws.com", "GCP": "storage.googleapis.com",
    "Azure": "management.azure.com", "Cloudflare": "www.cloudflare.com",
    "Cloudflare DNS": "1.1.1.1", "Google DNS": "8.8.8.8", "Akamai": "www.akamai.com",
    "Fastly": "api.fastly.com", "FRED": "api.stlouisfed.org", "SEC EDGAR": "data.sec.gov",
    "Treasury": "api.fiscaldata.treasury.gov", "BLS": "api.bls.gov", "Census": "api.census.gov",
}
REGIONS = {"ewr": "Newark", "ord": "Chicago", "lhr": "London", "fra": "Frankfurt",
           "sin": "Singapore", "nrt": "Tokyo", "bom": "Mumbai"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(CATALOG_PATH)


def test_real_catalog_has_100_targets_and_every_category_its_minimum(catalog):
    counts = Counter(t.category for t in catalog.targets)
    assert len(catalog.targets) >= 100
    assert catalog.categories == tuple(MIN_TARGETS)
    for category, minimum in MIN_TARGETS.items():
        assert counts[category] >= minimum, category


def test_real_catalog_probes_every_named_provider_at_its_api_host(catalog):
    for provider, host in NAMED_PROVIDERS.items():
        assert provider.lower() in catalog.target(host).name.lower(), (provider, host)


def test_real_catalog_has_the_seven_regions_with_locations(catalog):
    assert {r.code: r.city for r in catalog.regions} == REGIONS
    assert "primary" in catalog.region("ewr").note
    assert "CME" in catalog.region("ord").note
    assert all(r.lat and r.lon for r in catalog.regions)


# venue -> its market calendar; crypto exchanges and services name none (open 24/7)
VENUE_CALENDARS = {
    "www.nyse.com": "XNYS", "api.nasdaq.com": "XNAS", "www.cmegroup.com": "CMES",
    "www.londonstockexchange.com": "XLON", "www.jpx.co.jp": "XTKS", "www.hkex.com.hk": "XHKG",
    "www.nseindia.com": "XBOM", "api.bseindia.com": "XBOM", "api-fxtrade.oanda.com": "24/5",
    "api.schwabapi.com": "XNYS",
}


def test_real_catalog_names_the_venues_market_calendars_and_leaves_crypto_24_7(catalog):
    assert {h: catalog.target(h).calendar for h in VENUE_CALENDARS} == VENUE_CALENDARS
    assert all(t.calendar is None for t in catalog.in_category("Crypto Exchanges"))
    assert catalog.target("storage.googleapis.com").calendar is None


def test_calendar_names_are_the_pinned_exchange_calendars_names():
    assert CALENDARS == set(exchange_calendars.get_calendar_names(include_aliases=True))


def test_the_collector_loads_the_catalog_without_importing_pandas():
    code = ("import sys, collect.cli\n"
            "from collect.targets import CATALOG_PATH, load_catalog\n"
            "assert load_catalog(CATALOG_PATH).target('www.nyse.com').calendar == 'XNYS'\n"
            "print(sorted({'pandas', 'exchange_calendars'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_real_catalog_resolvers_list_their_probes(catalog):
    assert "dns" not in catalog.target("8.8.8.8").probes
    assert catalog.target("api.binance.com").probes == PROBES


def test_line_map_of_the_real_catalog_puts_each_host_on_its_own_line(catalog):
    source = CATALOG_PATH.read_text(encoding="utf-8").split("\n")
    lines = key_lines("\n".join(source))
    for i, target in enumerate(catalog.targets):
        assert source[lines[("targets", i, "host")] - 1] == f'host = "{target.host}"'


@pytest.mark.parametrize(("name", "slug"), [
    ("NYSE & Financial", "nyse-financial"), ("CDN & DNS", "cdn-dns"),
    ("Crypto Exchanges", "crypto-exchanges"), ("Gov & Data", "gov-data"),
    ("  Börse / Futures!! ", "borse-futures"),
])
def test_category_slug_is_lowercase_ascii_words_joined_by_hyphens(name, slug):
    assert category_slug(name) == slug


CATEGORIES = 'categories = ["Exchanges", "Resolvers"]\n'
REGION = """
[regions.ewr]
city = "Newark"
note = "US East, primary"
lat = 40.7357
lon = -74.1724
"""
EXCHANGE = """
[[targets]]
host = "api.example.com"
name = "Example Exchange"
category = "Exchanges"
"""
RESOLVER = """
[[targets]]
host = "10.77.1.5"
name = "Lab Resolver"
category = "Resolvers"
probes = ["icmp", "tcp"]
"""
VALID = CATEGORIES + REGION + EXCHANGE + RESOLVER
THIRD = 'host = "api.third.example"\nname = "Third"\ncategory = "Exchanges"\n'
MARK = "# <-"  # marks the line the error must name


def edit(old: str, new: str, text: str = VALID) -> str:
    assert old in text
    return text.replace(old, new, 1)


def third(*lines: str, fields: str = THIRD) -> str:
    """VALID plus a third target with fields and extra lines."""
    return VALID + "\n[[targets]]\n" + fields + "".join(line + "\n" for line in lines)


def with_host(host: str) -> str:
    return third(fields=f'host = "{host}"  {MARK}\nname = "Third"\ncategory = "Exchanges"\n')


INLINE_TARGETS = CATEGORIES + """targets = [
  { host = "api.example.com", name = "Example Exchange", category = "Exchanges" },
  { host = "10.77.1.5", name = "Lab Resolver", category = "Resolvers", port = 0 },  # <-
]
""" + REGION

# (id, file text, field the message names, a word of the problem); the line is MARK's, else 1
BROKEN = [
    ("syntax error", third(f"port =  {MARK}"), "port", "invalid TOML"),
    ("unterminated string", third(f'name2 = """never closed  {MARK}'),
     "name2", "invalid TOML"),
    ("windows line ends", third(f"port = 0  {MARK}").replace("\n", "\r\n"),
     "targets[2].port", "65535"),
    ("key written twice", third("port = 80", f"port = 81  {MARK}"), "port", "invalid TOML"),
    ("unknown top-level key", f'owner = "me"  {MARK}\n' + VALID, "owner", "unknown key"),
    ("unknown target key", third(f'hots = "x"  {MARK}'), "targets[2].hots", "allowed"),
    ("missing name", edit('name = "Example Exchange"\n', "",
                          edit("[[targets]]", f"[[targets]] {MARK}")),
     "targets[0].name", "missing"),
    ("name not a string", edit('"Example Exchange"', f"5  {MARK}"), "targets[0].name", "integer"),
    ("empty name", edit('"Example Exchange"', f'" "  {MARK}'), "targets[0].name", "empty"),
    ("duplicate host", with_host("api.example.com"), "targets[2].host", "first: line 10"),
    ("unknown category", third(fields=THIRD.replace('"Exchanges"\n', f'"Exchange"  {MARK}\n')),
     "targets[2].category", "unknown category"),
    ("port too big", third(f"port = 70000  {MARK}"), "targets[2].port", "65535"),
    ("port zero", third(f"port = 0  {MARK}"), "targets[2].port", "65535"),
    ("port as string", third(f'port = "443"  {MARK}'), "targets[2].port", "string"),
    ("port as bool", third(f"port = true  {MARK}"), "targets[2].port", "boolean"),
    ("port as float", third(f"port = 443.0  {MARK}"), "targets[2].port", "float"),
    ("bad port after a good one",
     edit('"Exchanges"\n', '"Exchanges"\nport = 8443\n', third(f"port = -1  {MARK}")),
     "targets[2].port", "65535"),
    ("decoy port in comment and string", third(
        f"port = 0  {MARK}", fields='host = "api.third.example"\nname = """Third\nport = 1"""\n'
        'category = "Exchanges"\n# port = 2\n'), "targets[2].port", "65535"),
    ("unknown probe", third(f'probes = ["icmp", "ping"]  {MARK}'), "targets[2].probes[1]", "ping"),
    ("probe listed twice", third(f'probes = ["tcp",\n  "tcp",  {MARK}\n]'),
     "targets[2].probes[1]", "twice"),
    ("no probes", third(f"probes = []  {MARK}"), "targets[2].probes", "non-empty"),
    ("probes as string", third(f'probes = "icmp"  {MARK}'), "targets[2].probes", "array"),
    ("health url ftp", third(f'health_url = "ftp://a.example/x"  {MARK}'),
     "targets[2].health_url", "http"),
    ("health url without host", third(f'health_url = "https://"  {MARK}'),
     "targets[2].health_url", "host"),
    ("health url bad port", third(f'health_url = "https://a.example:99999/"  {MARK}'),
     "targets[2].health_url", "not a URL"),
    ("health url with space", third(f'health_url = "https://a.example/a b"  {MARK}'),
     "targets[2].health_url", "whitespace"),
    ("health url not ascii", third(f'health_url = "https://a.example/bücher"  {MARK}'),
     "targets[2].health_url", "not ASCII"),
    ("unknown calendar", third(f'calendar = "XNSE"  {MARK}'), "targets[2].calendar",
     "unknown market calendar 'XNSE'"),
    ("lowercase calendar", third(f'calendar = "xnys"  {MARK}'), "targets[2].calendar",
     "did you mean XNYS?"),
    ("calendar not a string", third(f"calendar = 1  {MARK}"), "targets[2].calendar", "integer"),
    ("host with scheme", with_host("https://api.third.example"), "targets[2].host", "URL"),
    ("host with path", with_host("api.third.example/v1"), "targets[2].host", "path"),
    ("host with port", with_host("api.third.example:8443"), "targets[2].host", "port"),
    ("host with space", with_host("api third.example"), "targets[2].host", "whitespace"),
    ("host uppercase", with_host("API.third.example"), "targets[2].host", "lowercase"),
    ("host label too long", with_host("a" * 64 + ".example"), "targets[2].host", "label"),
    ("host too long", with_host(".".join(["a" * 60] * 5)), "targets[2].host", "253"),
    ("host label leading hyphen", with_host("-api.example"), "targets[2].host", "label"),
    ("host underscore", with_host("api_1.example"), "targets[2].host", "label"),
    ("host bad ipv4", with_host("10.77.1.500"), "targets[2].host", "IP address"),
    ("host ipv6 not canonical", with_host("2001:DB8::1"), "targets[2].host", "2001:db8::1"),
    ("host not a string", edit('"10.77.1.5"', f"10  {MARK}"), "targets[1].host", "integer"),
    ("empty file", "", "targets", "empty"),
    ("only comments", "# nothing here\n", "targets", "empty"),
    ("no targets", CATEGORIES + f"targets = []  {MARK}\n" + REGION, "targets", "empty"),
    ("target not a table", CATEGORIES + f"targets = [1]  {MARK}\n" + REGION, "targets[0]", "table"),
    ("targets missing", CATEGORIES + REGION, "targets", "missing"),
    ("no regions", CATEGORIES + f"regions = {{}}  {MARK}\n" + EXCHANGE + RESOLVER,
     "regions", "regions.CODE"),
    ("region code uppercase", edit("[regions.ewr]", f"[regions.EWR]  {MARK}"),
     "regions.EWR", "code"),
    ("region code with slash", edit("[regions.ewr]", f'[regions."ew/r"]  {MARK}'),
     "regions.ew/r", "code"),
    ("latitude beyond 90", edit("lat = 40.7357", f"lat = 100  {MARK}"), "regions.ewr.lat", "90"),
    ("longitude beyond 180", edit("lon = -74.1724", f"lon = -200.5  {MARK}"),
     "regions.ewr.lon", "180"),
    ("latitude as string", edit("lat = 40.7357", f'lat = "40.7"  {MARK}'),
     "regions.ewr.lat", "string"),
    ("latitude nan", edit("lat = 40.7357", f"lat = nan  {MARK}"), "regions.ewr.lat", "finite"),
    ("region missing city",
     edit('city = "Newark"\n', "", edit("[regions.ewr]", f"[regions.ewr] {MARK}")),
     "regions.ewr.city", "missing"),
    ("region unknown key", edit("lon = -74.1724", f"lon = -74.1724\nelevation_m = 10  {MARK}"),
     "regions.ewr.elevation_m", "unknown key"),
    ("category without targets", edit('"Resolvers"]', f'"Resolvers", "Brokers"]  {MARK}'),
     "categories[2]", "no targets"),
    ("categories with the same slug",
     edit('"Resolvers"]', f'"Resolvers",\n "exchanges", {MARK}\n]'),
     "categories[2]", "slug"),
    ("category without a slug", edit('"Resolvers"]', f'"Resolvers", "&"]  {MARK}'),
     "categories[2]", "slug"),
    ("category not a string", edit('"Resolvers"]', f'"Resolvers", 7]  {MARK}'),
     "categories[2]", "string"),
    ("categories empty", edit(CATEGORIES, f"categories = []  {MARK}\n"), "categories", "non-empty"),
    ("inline target table", INLINE_TARGETS, "targets[1].port", "65535"),
    ("quoted key", third(f'"port" = 0  {MARK}'), "targets[2].port", "65535"),
]


@pytest.mark.parametrize(("text", "field", "word"), [c[1:] for c in BROKEN],
                         ids=[c[0] for c in BROKEN])
def test_broken_catalog_error_names_file_line_and_field(tmp_path, text, field, word):
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    marked = [n for n, line in enumerate(text.splitlines(), 1) if MARK in line]
    line = marked[0] if marked else 1
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert word in message, message


def test_non_utf8_catalog_error_names_the_line(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_bytes(VALID.encode() + b'\n# caf\xe9\n')
    with pytest.raises(CatalogError, match=rf"^{path}:{len(VALID.splitlines()) + 2}: .*UTF-8"):
        load_catalog(path)


def test_missing_catalog_file_error_names_the_file(tmp_path):
    with pytest.raises(CatalogError, match=rf"^{tmp_path / 'nope.toml'}: cannot read"):
        load_catalog(tmp_path / "nope.toml")


def test_minimal_catalog_loads_to_the_records_it_describes(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(VALID, encoding="utf-8")
    assert load_catalog(path) == Catalog(
        path=str(path),
        regions=(Region("ewr", "Newark", "US East, primary", 40.7357, -74.1724),),
        categories=("Exchanges", "Resolvers"),
        targets=(
            Target("api.example.com", "Example Exchange", "Exchanges", 443, None, PROBES),
            Target("10.77.1.5", "Lab Resolver", "Resolvers", probes=("icmp", "tcp")),
        ),
    )


def test_a_calendar_or_its_alias_loads_and_a_target_without_one_has_none(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(third('calendar = "NYSE"'), encoding="utf-8")
    catalog = load_catalog(path)
    assert [t.calendar for t in catalog.targets] == [None, None, "NYSE"]


def test_inline_tables_and_optional_fields_load_like_array_tables(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(edit("port = 0", 'port = 8443, health_url = "http://10.77.1.5:8080/ping"',
                         INLINE_TARGETS), encoding="utf-8")
    target = load_catalog(path).target("10.77.1.5")
    assert (target.port, target.health_url) == (8443, "http://10.77.1.5:8080/ping")


@pytest.mark.parametrize("host", ["10.77.1.6", "192.0.2.200", "::1", "2001:db8::5", "localhost",
                                  "a-b.example", "xn--bcher-kva.example"])
def test_ip_literals_and_dns_names_are_accepted_as_hosts(tmp_path, host):
    path = tmp_path / "targets.toml"
    path.write_text(third(fields=f'host = "{host}"\nname = "Third"\ncategory = "Exchanges"\n'),
                    encoding="utf-8")
    assert load_catalog(path).targets[-1].host == host


def test_catalog_lookups_raise_catalog_error_for_unknown_names(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(VALID, encoding="utf-8")
    catalog = load_catalog(path)
    assert catalog.region("ewr").city == "Newark"
    assert [t.host for t in catalog.in_category("Resolvers")] == ["10.77.1.5"]
    with pytest.raises(CatalogError, match="no region 'xyz' .known: ewr."):
        catalog.region("xyz")
    with pytest.raises(CatalogError, match="no target"):
        catalog.target("api.nowhere.example")
    with pytest.raises(CatalogError, match="no category"):
        catalog.in_category("Brokers")


def test_key_lines_follow_strings_comments_dotted_keys_and_nested_arrays():
    text = "\n".join([
        r's1 = "quote \" and # hash [x]"  # comment = 1',
        r"s2 = 'C:\path # not a comment'",
        'm1 = """',
        "[not.a.table]",
        'x = 1 """',
        "m2 = '''two quotes '' inside'''",
        '"dotted . key" . inner = 2021-01-01T00:00:00Z',
        '[ t . "u" ]',
        "arr = [ [1, 2], [",
        "  3 ] ]",
        "[[t.u.list]]",
        "v = 1",
        "[[t.u.list]]",
        "v = 2",
    ])
    tomllib.loads(text)  # the scanner only ever sees TOML that tomllib accepted
    lines = key_lines(text)
    assert [lines[k] for k in [("s1",), ("s2",), ("m1",), ("m2",), ("dotted . key", "inner"),
                               ("t", "u"), ("t", "u", "arr", 1), ("t", "u", "arr", 1, 0),
                               ("t", "u", "list", 0, "v"), ("t", "u", "list", 1, "v")]] == [
        1, 2, 3, 6, 7, 8, 9, 10, 12, 14]
    assert ("not",) not in lines and ("x",) not in lines and ("comment",) not in lines


def test_catalog_toml_reads_back_to_the_same_catalog(tmp_path):
    catalog = load_catalog(CATALOG_PATH)
    path = tmp_path / "targets.toml"
    path.write_text(catalog_toml(catalog))
    again = load_catalog(path)
    assert (again.categories, again.regions, again.targets) == (
        catalog.categories, catalog.regions, catalog.targets)
    assert any(t.calendar for t in again.targets) and any(t.port != 443 for t in again.targets)
