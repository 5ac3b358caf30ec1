"""A simple SVG world map (equirectangular) with the scanner regions as labelled dots.

The coastlines are hand-simplified outlines (a few dozen points per land mass): enough to
place seven cities, small enough to inline in a page.
"""
from __future__ import annotations

from markupsafe import Markup, escape

LON_W, LON_E, LAT_N, LAT_S = -170.0, 180.0, 80.0, -58.0
SCALE_PX_PER_DEG = 2.4

# (lon, lat) outlines, clockwise-ish; deliberately coarse.
LAND = (
    ((-168, 65), (-160, 71), (-140, 70), (-120, 70), (-95, 72), (-80, 73), (-65, 60), (-55, 52), (-66, 44),
     (-75, 35), (-81, 31), (-80, 25), (-82, 29), (-90, 29), (-97, 26), (-97, 22), (-87, 21), (-88, 15),
     (-83, 9), (-77, 8), (-80, 7), (-86, 12), (-92, 15), (-105, 20), (-110, 23), (-117, 32), (-124, 40),
     (-124, 48), (-135, 58), (-150, 60), (-165, 60)),
    ((-77, 8), (-60, 10), (-50, 0), (-35, -5), (-39, -15), (-48, -25), (-58, -35), (-65, -42), (-68, -55),
     (-75, -50), (-73, -35), (-71, -18), (-81, -5), (-80, 1)),
    ((-45, 60), (-20, 70), (-20, 80), (-60, 80), (-70, 77), (-55, 68)),
    ((-10, 36), (-9, 43), (-2, 44), (-5, 48), (2, 51), (8, 54), (10, 58), (5, 62), (15, 69), (28, 71),
     (40, 67), (60, 69), (80, 73), (100, 77), (120, 73), (140, 72), (160, 70), (180, 68), (180, 65),
     (170, 60), (160, 60), (156, 51), (142, 53), (135, 43), (128, 35), (122, 31), (121, 25), (110, 20),
     (108, 12), (105, 9), (100, 13), (98, 8), (103, 1), (100, 6), (98, 16), (92, 21), (88, 22), (80, 15),
     (77, 8), (73, 18), (68, 24), (60, 25), (57, 26), (52, 27), (48, 30), (56, 24), (59, 22), (52, 16),
     (44, 12), (43, 17), (35, 28), (34, 31), (36, 36), (28, 36), (26, 40), (23, 36), (20, 40), (16, 38),
     (12, 44), (7, 44), (3, 43), (-1, 37), (-6, 36)),
    ((-17, 21), (-10, 30), (-6, 35), (10, 37), (20, 32), (32, 31), (34, 28), (43, 12), (51, 12), (42, -1),
     (40, -15), (35, -24), (27, -34), (18, -34), (12, -17), (13, -5), (9, 4), (-8, 4), (-17, 14)),
    ((114, -22), (122, -18), (131, -12), (137, -12), (142, -11), (146, -19), (153, -26), (150, -37),
     (141, -38), (131, -31), (116, -35)),
    ((-5, 50), (1, 51), (-2, 56), (-5, 58), (-6, 56), (-3, 54)),
    ((130, 31), (135, 34), (140, 35), (142, 40), (141, 45), (140, 41), (136, 37), (130, 34)),
    ((109, 2), (117, 7), (119, 1), (116, -4), (110, -3)),
    ((95, 5), (104, -2), (106, -6), (102, -4)),
    ((106, -6), (115, -8), (114, -9), (106, -7)),
    ((44, -25), (50, -15), (49, -12), (43, -17)),
)


def _xy(lon: float, lat: float) -> tuple[float, float]:
    return (lon - LON_W) * SCALE_PX_PER_DEG, (LAT_N - lat) * SCALE_PX_PER_DEG


def render_world_map(regions) -> Markup:
    """regions: items with code, city, lat, lon, stale. Returns inline SVG with role=img."""
    w, h = _xy(LON_E, LAT_S)
    out = [f'<svg class="worldmap" viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-labelledby="map-t">',
           f'<title id="map-t">Scanner regions: {escape(", ".join(f"{r.code} ({r.city})" for r in regions))}</title>']
    for lon in range(-150, 181, 30):
        x, _ = _xy(lon, 0)
        out.append(f'<line class="grat" x1="{x:.0f}" x2="{x:.0f}" y1="0" y2="{h:.0f}"/>')
    for lat in range(-30, 80, 30):
        _, y = _xy(0, lat)
        out.append(f'<line class="grat" x1="0" x2="{w:.0f}" y1="{y:.0f}" y2="{y:.0f}"/>')
    for shape in LAND:
        pts = " ".join(f"{x:.0f},{y:.0f}" for x, y in (_xy(lon, lat) for lon, lat in shape))
        out.append(f'<polygon class="land" points="{pts}"/>')
    for i, r in enumerate(regions):
        x, y = _xy(r.lon, r.lat)
        # neighbours (ewr/ord, lhr/fra) would overlap: alternate labels above and below
        dy = -9 if i % 2 == 0 else 18
        cls = ' class="stale"' if r.stale else ""
        out.append(f'<circle{cls} cx="{x:.1f}" cy="{y:.1f}" r="5"/>'
                   f'<text x="{x + 7:.1f}" y="{y + dy:.1f}">{escape(r.code)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
