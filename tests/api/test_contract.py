"""The contract's tier table: the limits the product brief sells, and the tier a 403 names."""
from __future__ import annotations

import pytest

from api.contract import (COLOCATION, COMPARE, ENDPOINTS, EXPORT, FEATURE_LABELS, LATENCY,
                          SIGNALS, STREAM, TIERS, tier_for_feature)


def test_the_tier_table_matches_the_product_brief():
    assert [(t.name, t.calls_per_day, t.history_hours) for t in TIERS.values()] == [
        ("free", 100, 24), ("pro", 10_000, 720), ("enterprise", None, 2160)]


@pytest.mark.parametrize("feature, tier", [
    (LATENCY, "free"), (SIGNALS, "pro"), (COMPARE, "pro"), (COLOCATION, "pro"),
    (EXPORT, "enterprise"), (STREAM, "enterprise")])
def test_the_tier_table_names_the_cheapest_tier_of_each_feature(feature, tier):
    assert tier_for_feature(feature).name == tier


def test_every_feature_a_tier_grants_or_an_endpoint_needs_has_a_pricing_label():
    granted = set().union(*(t.features for t in TIERS.values()))
    needed = {e.feature for e in ENDPOINTS if e.feature is not None}
    assert needed <= granted == set(FEATURE_LABELS)


def test_endpoint_paths_are_unique_and_keyed_ones_need_a_feature():
    assert len({(e.method, e.path) for e in ENDPOINTS}) == len(ENDPOINTS)
    for e in ENDPOINTS:
        assert (e.served_by == "proxy") == (e.feature is not None), e.path
