"""Powertools Logger, Tracer and Metrics, shared by every function in a container.

Service name, namespace and log level come from POWERTOOLS_* variables (template Globals).
"""

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

# Health checks, 304s and quiet polls add no business metric by design; Powertools would
# print a warning for each such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def count(name: str, value: int = 1) -> None:
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
