"""Test helpers: the template as data, AWS resources built from it, real sample events."""
