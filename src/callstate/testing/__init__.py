"""The testing kit: what users need to test their own code against callstate.

Public modules: ``callstate.testing.strategies`` (hypothesis strategies).
"""
