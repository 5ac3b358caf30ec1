"""Errors of the proxy package."""
from __future__ import annotations


class ProxyError(Exception):
    """A proxy setup problem (missing pepper, bad folder, bad key command)."""


class ApiError(Exception):
    """An HTTP answer other than success: status, a stable `error` code and a detail line."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None,
                 **extra: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict:
        return {"error": self.code, "detail": self.detail, **self.extra}
