"""The trainer's cold-start floor: the boto3 floor (bench/floor.py: boto3, a client, one
read) with numpy imported too, which the trainer cannot train without. bench.cold_start
measures the trainer against it: above it is what the trainer adds."""

import numpy  # noqa: F401  # imported, as the trainer must

from bench.floor import handler

__all__ = ["handler"]
