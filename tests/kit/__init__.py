"""Tests of the testing kit (testing/): the fake provider, the pytest and hypothesis plugins."""
