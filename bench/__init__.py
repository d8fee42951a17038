"""Benchmarks: measured, never asserted in tests (see README)."""
