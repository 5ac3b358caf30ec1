"""Advance widths of printable ASCII (32..126) in Verdana at 11 px, the table shields.io
measures badge text with. Data from the npm package anafanafo 2.0.0 (MIT License,
Copyright (c) 2018 Metabolize LLC), data/verdana-11px-normal.json."""
from __future__ import annotations

from functools import lru_cache

FIRST_CHAR = 32
WIDTHS_PX = (
    3.87, 4.33, 5.05, 9, 6.99, 11.84, 7.99, 2.95, 5, 5, 6.99, 9,
    4, 5, 4, 5, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99,
    6.99, 6.99, 5, 5, 9, 9, 9, 6, 11, 7.52, 7.54, 7.68,
    8.48, 6.96, 6.32, 8.53, 8.27, 4.63, 5, 7.62, 6.12, 9.27, 8.23, 8.66,
    6.63, 8.66, 7.65, 7.52, 6.78, 8.05, 7.52, 10.88, 7.54, 6.77, 7.54, 5,
    5, 5, 9, 6.99, 6.99, 6.61, 6.85, 5.73, 6.85, 6.55, 3.87, 6.85,
    6.96, 3.02, 3.79, 6.51, 3.02, 10.7, 6.96, 6.68, 6.85, 6.85, 4.69, 5.73,
    4.33, 6.96, 6.51, 9, 6.51, 6.51, 5.78, 6.98, 5, 6.98, 9,
)
FALLBACK_PX = WIDTHS_PX[ord("m") - FIRST_CHAR]  # an unknown character counts as "m", as shields guesses


@lru_cache(maxsize=4096)  # a badge template asks ~19 times; ~12k calls a build, few texts
def text_width_px(text: str) -> float:
    """Width of text in Verdana 11 px, in pixels."""
    last = FIRST_CHAR + len(WIDTHS_PX)
    return sum(WIDTHS_PX[ord(c) - FIRST_CHAR] if FIRST_CHAR <= ord(c) < last else FALLBACK_PX
               for c in text)
