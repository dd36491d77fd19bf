"""The HTTP API (FastAPI): API keys, CloudEvents ingest, per-account reads; see api/README.md."""
