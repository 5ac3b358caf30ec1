"""NetTrace: financial network latency, measured from 7 regions."""
