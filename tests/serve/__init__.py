"""Tests of the receiver (serve/) as users run it: real `callstate serve` processes;
reconciliation, placing calls, faults, logs, security.
"""
