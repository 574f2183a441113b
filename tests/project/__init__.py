"""Tests of the project's own checks: ruff and mypy, purity, the public API, typing, docs,
dependency floors, benchmarks, secrets in reprs.
"""
