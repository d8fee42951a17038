"""Powertools Logger and Metrics, shared by every function in a container.

Service name, namespace and log level come from POWERTOOLS_* variables (template Globals).
Traces come from Lambda itself (`Tracing: Active`), without an SDK in the function: see
docs/operations.md.
"""

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

# Health checks, 304s and quiet polls add no business metric by design; Powertools would
# print a warning for each such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
metrics = Metrics()


def count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def measure(name: str, value: float) -> None:
    """One value of a distribution (a size, not a count to add up): CloudWatch's
    statistics (average, percentiles) and Prometheus's histograms describe them."""
    metrics.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
