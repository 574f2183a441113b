"""The testing kit: what users need to test their own code against callstate.

Public modules: ``callstate.testing.strategies`` (hypothesis strategies) and
``callstate.testing.fake_provider`` (a fake Calls API on 127.0.0.1).
"""
