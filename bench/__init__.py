"""Benchmarks: measured, never asserted in tests (see docs/benchmarks.md)."""
