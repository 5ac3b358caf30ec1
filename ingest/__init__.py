"""Central ingest: signed batches from the collectors into the SQLite file."""
