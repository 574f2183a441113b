"""The pure core: values, parsing, the state machine and the decider.

Imports only the standard library, attrs and transitions; never reads a
clock, the environment or a random source, and does no I/O.
"""
