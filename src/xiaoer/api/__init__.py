"""HTTP API (FastAPI): shopper tokens, conversations, messages (JSON or SSE)."""
