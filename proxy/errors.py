"""Errors of the proxy package."""


class ProxyError(Exception):
    """A proxy setup problem (missing pepper, bad folder, bad key command)."""
