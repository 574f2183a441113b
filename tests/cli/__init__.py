"""Tests of the other commands (cli/): `callstate replay`, `calls`, `demo` as real processes."""
