"""Benchmarks: each script prints a table; none is run by the test suite (see bench/README.md)."""
