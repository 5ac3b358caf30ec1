"""Errors of the build package."""


class BuildError(Exception):
    """The build cannot produce a consistent site; nothing is published."""
