"""The HTTP API (FastAPI): can-send and scheduled sends today; see api/README.md."""
