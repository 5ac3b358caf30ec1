"""Render: the site model into {path: bytes} (HTML, JSON, SVG, PNG, Prometheus text); no I/O."""
