"""The build: signals, JSON API, Prometheus text, badges and HTML pages into public/ and private/."""
