"""The shopper turn: context → LLM/tool loop → persistence → events."""
