"""The API contract, below the proxy and the build: the tiers and every endpoint (contract.py),
and the one OpenAPI document made from them (openapi.py)."""
