"""Offline evaluation harnesses for xiaoer (benchmarks, scorers, baseline agents)."""
