"""Summaries of repeated measurements, in milliseconds."""

import statistics


def percentiles(samples: list[float], digits: int = 3) -> dict[str, float]:
    """p50, p99, min and max of latencies in ms."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), digits),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], digits),
        "min_ms": round(ordered[0], digits),
        "max_ms": round(ordered[-1], digits),
    }


def spread(samples: list[float]) -> dict[str, float]:
    """Median, min and max of repeated runs in ms."""
    return {
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
    }
