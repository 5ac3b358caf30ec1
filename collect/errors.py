"""Errors of the collect package; ordinary probe failures are data, not these."""


class CollectError(Exception):
    """A setup or configuration problem that stops the collector."""


class CatalogError(CollectError):
    """targets.toml is invalid; the message names the file, line and field."""
