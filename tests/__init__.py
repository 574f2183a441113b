"""The tests of callstate, a folder per layer (see README.md)."""
