"""Regional collector and central ingest."""
