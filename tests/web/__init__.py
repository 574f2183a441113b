"""Tests of webhooks (web/): the sans-I/O handler, the verifiers and signatures, the framework
adapters over real sockets.
"""
