"""Tests of the pure core (_core/): values, parsing, timestamps, the state machine, the
decider, CallBook; no I/O.
"""
