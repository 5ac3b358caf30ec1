"""The keyed proxy: API keys, tier quotas and the paid half of the build."""
