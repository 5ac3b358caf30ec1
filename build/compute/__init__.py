"""Compute: pure functions from the read inputs to the site model and signals (numpy, no I/O, no clock)."""
