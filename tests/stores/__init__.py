"""Tests of event stores (stores/): the shared contract over memory, a real SQLite file and the
real PostgreSQL; codec, concurrency, runners.
"""
