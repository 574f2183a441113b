"""The testing kit: what users need to test their own code against callstate.

Public modules: ``callstate.testing.strategies`` (hypothesis strategies),
``callstate.testing.fake_provider`` (a fake Calls API on 127.0.0.1),
``callstate.testing.web_contract`` (the contract every web adapter passes) and
``callstate.testing.servers`` (run an app on a real socket for a test).
"""
