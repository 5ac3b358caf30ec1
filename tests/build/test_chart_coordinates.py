"""Chart coordinates are formatted through a table of tenths: the text must be exactly what
f"{v:.1f}" gives, ties, negatives, large values and NaN included."""
from __future__ import annotations

import numpy as np

from build.render.charts import _fixed1


def test_tenths_from_the_table_equal_one_by_one_formatting():
    rng = np.random.default_rng(7)
    values = np.concatenate([
        rng.uniform(-5, 1200, 20_000), np.arange(0, 1001, 0.05), np.arange(0, 100, 0.25),
        [0.0, -0.0, -0.04, 0.05, 0.15, 0.25, 0.35, 2.45, 999.95, 999.94, 1000.0, 1e300,
         float("nan"), float("inf"), -float("inf")]])
    assert _fixed1(values) == [f"{v:.1f}" for v in values.tolist()]
