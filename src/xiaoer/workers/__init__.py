"""Shopper turns as jobs on a Redis queue (`XIAOER_QUEUE=redis`), consumed by `xiaoer worker`
processes, so that API workers only accept, relay and answer (`turns.py`)."""
