"""One run of the recommendation trainer.

The model (training.py, beside this module) is loaded from the model bucket; the baskets stamped
since its watermark are read minute by minute and folded in; the SKUs they touched are
solved again (every SKU with `full`), and the rows that may have changed are written with
the best sellers; then the model is saved with its new watermark. A run that fails saves
nothing, and the next run reads the same baskets again: rows are rewritten, never added
to, so a repeated run changes nothing twice.

Baskets are read up to SETTLE_SECONDS ago: a basket is stamped before its transaction is
sent, and botocore's attempts (4, with 2 s connect and 5 s read timeouts) land it well
within that, so none arrives behind the watermark.
"""

import time
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

import model_store
from stockroom.dal import recommendations as recommendations_table
from stockroom.dal.recommendations import minute_of
from stockroom.observability import count, logger
from training import ROWS_PER_RUN, Model

SETTLE_SECONDS = 30
# A model with no watermark (the first run) starts this far back, and a run catches up
# at most this many minutes of baskets (the next run goes on from there).
CATCH_UP_MINUTES = 360
_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


class RefreshReport(BaseModel):
    baskets: int
    solved: int
    rows_written: int
    rows_waiting: int
    skus: int
    watermark: str
    seconds: float


def refresh(now: float | None = None, full: bool = False) -> RefreshReport:
    started = time.perf_counter()
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    saved = model_store.load()
    model = Model.from_bytes(saved) if saved else Model()
    bound = moment - timedelta(seconds=SETTLE_SECONDS)
    start = (
        datetime.strptime(model.watermark, _STAMP).replace(tzinfo=UTC)
        if model.watermark
        else bound - timedelta(minutes=CATCH_UP_MINUTES - 1)
    )
    minutes = _minutes(start, bound)[:CATCH_UP_MINUTES]
    if minutes and minute_of(bound.strftime(_STAMP)) != minutes[-1]:
        bound = datetime.strptime(minutes[-1], "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
        bound += timedelta(seconds=59, microseconds=999_999)
    low, high = start.strftime(_STAMP), bound.strftime(_STAMP)
    baskets = [
        basket
        for minute in minutes
        for basket in recommendations_table.baskets_of_minute(minute)
        if low < basket.at <= high
    ]
    touched = model.fold(baskets, moment.timestamp())
    targets = range(len(model.skus)) if full else touched
    sources = model.solve(targets)
    rows = model.changed_rows(sources, every=full, limit=None if full else ROWS_PER_RUN)
    recommendations_table.put_related(rows, model.popular())
    model.watermark = max(high, model.watermark)
    model_store.save(model.to_bytes())
    report = RefreshReport(
        baskets=len(baskets),
        solved=len(targets),
        rows_written=len(rows),
        rows_waiting=len(model.waiting),
        skus=len(model.skus),
        watermark=model.watermark,
        seconds=round(time.perf_counter() - started, 3),
    )
    count("RecommendationBasketsFolded", len(baskets))
    logger.info("recommendation model refreshed", **report.model_dump())
    return report


def _minutes(start: datetime, bound: datetime) -> list[str]:
    """Each minute from the one holding `start` to the one holding `bound`, as text."""
    first = start.replace(second=0, microsecond=0)
    minutes = []
    while first <= bound:
        minutes.append(first.strftime("%Y-%m-%dT%H:%M"))
        first += timedelta(minutes=1)
    return minutes
