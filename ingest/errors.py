"""Errors of central ingest."""


class IngestError(Exception):
    """A batch or import that central ingest rejects."""
