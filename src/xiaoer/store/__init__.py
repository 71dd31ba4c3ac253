"""Persistence: SQLAlchemy 2 async models, repositories (every query filtered by shop), migrations."""
