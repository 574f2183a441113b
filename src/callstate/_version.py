"""The version of callstate."""

__version__ = "0.1.0.dev0"
"""This release's version, PEP 440."""
