"""Columns that hold codes into a table of keys (or texts) instead of the values themselves."""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np


def join_codes(parts: Sequence[tuple[Sequence[Hashable], np.ndarray]],
               dtype=np.int32) -> tuple[tuple, np.ndarray]:
    """(table, codes): the tables of parts (table, codes into it) as one, in first-seen order,
    and every part's codes, concatenated in order, pointing into it."""
    table = tuple(dict.fromkeys(k for keys, _ in parts for k in keys))
    position = {k: i for i, k in enumerate(table)}
    codes = [np.array([position[k] for k in keys] or [0], dtype=dtype)[index]
             for keys, index in parts]
    return table, (np.concatenate(codes) if codes else np.array([], dtype=dtype))
