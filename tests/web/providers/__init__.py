"""Tests of the bundled providers (callstate.providers): each one's dialect over its fixture
payloads (fixtures/, with their sources in fixtures/SOURCES.md) and the provider contract.
"""
