"""The central SQLite file: schema migrations and connections, shared by ingest, build and proxy."""
