"""The recommendation model, learned from baskets and written as rows for the API.

Two SKUs co-occur when one customer bought them close together: in one order, or in an
order and among the PRIOR_SKUS newest SKUs they had bought before (views count a quarter).
From those counts G (the diagonal: how often each SKU was bought), each target SKU j gets
a ridge regression of its column on its CANDIDATES strongest partners S:

    w_j = (G_SS + RIDGE * I)^-1 G_Sj

which is EASE (Steck, 2019) restricted to candidates: a dense EASE inverts a matrix of
the whole catalog, which 100,000 SKUs make 80 GB; this solves one 100 x 100 system per
SKU. With few baskets RIDGE dominates and the weights follow the raw co-occurrence; with
many, a partner that only rides along with a stronger one loses its weight. The row of a
source SKU a, what the API reads, holds the NEIGHBOURS targets with the largest w_j[a].

Counts live in numpy arrays: pair keys (a << 32 | b, both directions) sorted, and each SKU
keeps its MAX_PARTNERS strongest partners, so memory is bounded by the catalog, not by
the number of orders. Only numpy is needed; it ships in a layer of its own, for the
trainer alone.
"""

import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stockroom.models import Basket, BasketKind, Ranked

CANDIDATES = 100
NEIGHBOURS = 50
RIDGE = 300.0
MAX_PARTNERS = 300
# A row is written again once a weight in it moved by more than this share of itself,
# and a run writes at most ROWS_PER_RUN rows (best sellers' first; the rest wait): each
# order moves weights in dozens of rows, so this caps the trainer's writes whatever the
# order rate, at the price of rarely bought SKUs' rows lagging under heavy load.
ROW_TOLERANCE = 0.1
ROWS_PER_RUN = 2000
KIND_WEIGHT = {BasketKind.PURCHASE: 1.0, BasketKind.CANCEL: -1.0, BasketKind.VIEW: 0.25}
# Best sellers: purchases counted with a half-life, so a sale's hit fades in weeks.
POPULARITY_HALF_LIFE_DAYS = 30.0
_SHIFT = np.int64(32)
_LOW = np.int64((1 << 32) - 1)

type Ints = npt.NDArray[np.int64]
type Floats = npt.NDArray[np.float64]


def _ints(values: Iterable[int] = ()) -> Ints:
    return np.fromiter(values, dtype=np.int64)


def _floats(values: Iterable[float] = ()) -> Floats:
    return np.fromiter(values, dtype=np.float64)


def _moved(weights: Floats, before: Floats) -> bool:
    return bool(np.any(np.abs(weights - before) > ROW_TOLERANCE * np.abs(before)))


@dataclass
class Model:
    skus: list[str] = field(default_factory=list)
    pair_keys: Ints = field(default_factory=_ints)
    pair_counts: Floats = field(default_factory=_floats)
    bought: Floats = field(default_factory=_floats)
    popularity: Floats = field(default_factory=_floats)
    # w_j[a] for every solved target j: (target, source, weight), any order.
    targets: Ints = field(default_factory=_ints)
    sources: Ints = field(default_factory=_ints)
    weights: Floats = field(default_factory=_floats)
    # The last basket timestamp folded in, and when popularity was last decayed (-1: never).
    watermark: str = ""
    decayed_at: float = -1.0
    # Each row as last written: source -> (targets, weights).
    written: dict[int, tuple[Ints, Floats]] = field(default_factory=dict)
    # Rows that may have changed and were not written yet (a run writes ROWS_PER_RUN).
    waiting: set[int] = field(default_factory=set)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {sku: position for position, sku in enumerate(self.skus)}

    # ------------------------------------------------------------------ counting
    def position(self, sku: str) -> int:
        found = self._index.get(sku)
        if found is None:
            found = self._index[sku] = len(self.skus)
            self.skus.append(sku)
        return found

    def fold(self, baskets: Iterable[Basket], now: float) -> set[int]:
        """The baskets' pairs and purchases counted; the SKUs whose counts changed."""
        if self.decayed_at >= 0:
            self.popularity *= 0.5 ** ((now - self.decayed_at) / 86_400 / POPULARITY_HALF_LIFE_DAYS)
        self.decayed_at = now
        rows: list[Ints] = []
        columns: list[Ints] = []
        amounts: list[Floats] = []
        diagonal: dict[int, float] = {}
        sold: dict[int, float] = {}
        touched: set[int] = set()
        for basket in baskets:
            weight = KIND_WEIGHT[basket.kind]
            skus = _ints(self.position(sku) for sku in dict.fromkeys(basket.skus))
            inside = set(skus.tolist())
            prior = _ints(
                p for p in map(self.position, dict.fromkeys(basket.prior)) if p not in inside
            )
            touched |= inside | set(prior.tolist())
            for sku in skus.tolist():
                diagonal[sku] = diagonal.get(sku, 0.0) + weight
                if basket.kind is not BasketKind.VIEW:
                    sold[sku] = sold.get(sku, 0.0) + weight
            within_a, within_b = np.triu_indices(len(skus), k=1)
            a = np.concatenate([skus[within_a], np.repeat(skus, len(prior))])
            b = np.concatenate([skus[within_b], np.tile(prior, len(skus))])
            rows += [a, b]
            columns += [b, a]
            amounts += [np.full(2 * len(a), weight)]
        self._grow()
        for sku, amount in diagonal.items():
            self.bought[sku] += amount
        for sku, amount in sold.items():
            self.popularity[sku] = max(self.popularity[sku] + amount, 0.0)
        if rows:
            keys = (np.concatenate(rows) << _SHIFT) | np.concatenate(columns)
            self._add_pairs(keys, np.concatenate(amounts))
        return touched

    def _grow(self) -> None:
        missing = len(self.skus) - len(self.bought)
        if missing:
            self.bought = np.concatenate([self.bought, np.zeros(missing)])
            self.popularity = np.concatenate([self.popularity, np.zeros(missing)])

    def _add_pairs(self, keys: Ints, amounts: Floats) -> None:
        merged, inverse = np.unique(np.concatenate([self.pair_keys, keys]), return_inverse=True)
        counts = np.bincount(inverse, weights=np.concatenate([self.pair_counts, amounts]))
        keep = counts > 1e-9
        merged, counts = merged[keep], counts[keep]
        # Each SKU keeps its strongest partners: rank within a row by count, descending.
        row = merged >> _SHIFT
        order = np.lexsort((-counts, row))
        row_sorted = row[order]
        starts = np.searchsorted(row_sorted, row_sorted, side="left")
        rank = np.arange(len(order)) - starts
        kept = np.sort(order[rank < MAX_PARTNERS])
        self.pair_keys, self.pair_counts = merged[kept], counts[kept]

    # ------------------------------------------------------------------- solving
    def partners(self, target: int) -> tuple[Ints, Floats]:
        low, high = np.searchsorted(
            self.pair_keys, [np.int64(target) << _SHIFT, np.int64(target + 1) << _SHIFT]
        )
        return self.pair_keys[low:high] & _LOW, self.pair_counts[low:high]

    def _gram(self, candidates: Ints) -> Floats:
        keys = (candidates[:, None] << _SHIFT) | candidates[None, :]
        at = np.searchsorted(self.pair_keys, keys)
        at = np.minimum(at, max(len(self.pair_keys) - 1, 0))
        found = self.pair_keys[at] == keys if len(self.pair_keys) else np.zeros(keys.shape, bool)
        gram = np.where(found, self.pair_counts[at] if len(self.pair_keys) else 0.0, 0.0)
        gram[np.diag_indices(len(candidates))] = np.maximum(self.bought[candidates], 0.0)
        return gram

    def solve(self, targets: Iterable[int]) -> set[int]:
        """Each target's weights computed again; the source SKUs whose rows may change."""
        solved = sorted(set(targets))
        if not solved:
            return set()
        replaced = np.isin(self.targets, solved)
        affected = set(self.sources[replaced].tolist())
        new_targets: list[Ints] = [self.targets[~replaced]]
        new_sources: list[Ints] = [self.sources[~replaced]]
        new_weights: list[Floats] = [self.weights[~replaced]]
        for target in solved:
            partners, counts = self.partners(target)
            positive = counts > 0
            partners, counts = partners[positive], counts[positive]
            if len(partners) > CANDIDATES:
                strongest = np.argpartition(-counts, CANDIDATES)[:CANDIDATES]
                partners, counts = partners[strongest], counts[strongest]
            if not len(partners):
                continue
            system = self._gram(partners) + RIDGE * np.eye(len(partners))
            weights = np.linalg.solve(system, counts)
            new_targets.append(np.full(len(partners), target, dtype=np.int64))
            new_sources.append(partners)
            new_weights.append(weights)
            affected |= set(partners.tolist())
        self.targets = np.concatenate(new_targets)
        self.sources = np.concatenate(new_sources)
        self.weights = np.concatenate(new_weights)
        return affected

    def solve_all(self) -> set[int]:
        return self.solve(range(len(self.skus)))

    # ------------------------------------------------------------------- serving
    def _row_entries(self, sources: Iterable[int]) -> dict[int, tuple[Ints, Floats]]:
        """Each source's NEIGHBOURS best targets with positive weight, and the weights."""
        wanted = np.asarray(sorted(set(sources)), dtype=np.int64)
        by_source = np.argsort(self.sources, kind="stable")
        ordered = self.sources[by_source]
        lows = np.searchsorted(ordered, wanted, side="left")
        highs = np.searchsorted(ordered, wanted, side="right")
        found: dict[int, tuple[Ints, Floats]] = {}
        for source, low, high in zip(wanted.tolist(), lows.tolist(), highs.tolist(), strict=True):
            entries = by_source[low:high]
            entries = entries[self.weights[entries] > 0]
            best = entries[np.argsort(-self.weights[entries], kind="stable")][:NEIGHBOURS]
            found[source] = (self.targets[best], self.weights[best])
        return found

    def _ranked(self, targets: Ints, weights: Floats) -> Ranked:
        return [
            (self.skus[target], float(weight))
            for target, weight in zip(targets.tolist(), weights.tolist(), strict=True)
        ]

    def rows(self, sources: Iterable[int]) -> dict[str, Ranked]:
        """The row of each source SKU: its NEIGHBOURS best targets with positive weight."""
        return {
            self.skus[source]: self._ranked(targets, weights)
            for source, (targets, weights) in self._row_entries(sources).items()
        }

    def changed_rows(
        self, sources: Iterable[int], every: bool = False, limit: int | None = None
    ) -> dict[str, Ranked]:
        """The rows to write now: among `sources` and the rows left waiting by earlier runs,
        those that differ from what was last written (other targets, another order, or a
        weight moved by more than ROW_TOLERANCE of itself), best sellers first, at most
        `limit` of them; with `every`, all rows of `sources`. What is returned counts as
        written; changed rows past the limit wait for the next run."""
        self.waiting |= set(sources)
        entries = self._row_entries(self.waiting)
        order = sorted(self.waiting, key=lambda source: (-self.popularity[source], source))
        changed: dict[str, Ranked] = {}
        for source in order:
            # A source with no entries left has an empty row (written once, if it had one).
            targets, weights = entries[source]
            before = self.written.get(source)
            differs = (
                every
                or (before is None and len(targets) > 0)
                or (before is not None and not np.array_equal(before[0], targets))
                or (before is not None and _moved(weights, before[1]))
            )
            if differs and limit is not None and len(changed) >= limit:
                continue
            self.waiting.discard(source)
            if differs:
                self.written[source] = (targets, weights)
                changed[self.skus[source]] = self._ranked(targets, weights)
        return changed

    def popular(self, count: int = NEIGHBOURS) -> Ranked:
        best = np.argsort(-self.popularity, kind="stable")[:count]
        return [(self.skus[i], float(self.popularity[i])) for i in best if self.popularity[i] > 0]

    # --------------------------------------------------------------- persistence
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            skus=np.asarray(self.skus, dtype=str),
            pair_keys=self.pair_keys,
            pair_counts=self.pair_counts,
            bought=self.bought,
            popularity=self.popularity,
            targets=self.targets,
            sources=self.sources,
            weights=self.weights,
            watermark=np.asarray(self.watermark),
            decayed_at=np.asarray(self.decayed_at),
            waiting=np.asarray(sorted(self.waiting), dtype=np.int64),
            **self._written_arrays(),
        )
        return buffer.getvalue()

    def _written_arrays(self) -> dict[str, Any]:
        sources = sorted(self.written)
        lengths = [len(self.written[source][0]) for source in sources]
        return {
            "written_sources": np.asarray(sources, dtype=np.int64),
            "written_offsets": np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            "written_targets": np.concatenate([_ints(), *(self.written[s][0] for s in sources)]),
            "written_weights": np.concatenate([_floats(), *(self.written[s][1] for s in sources)]),
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        with np.load(io.BytesIO(data), allow_pickle=False) as saved:
            return cls(
                skus=[str(sku) for sku in saved["skus"]],
                pair_keys=saved["pair_keys"],
                pair_counts=saved["pair_counts"],
                bought=saved["bought"],
                popularity=saved["popularity"],
                targets=saved["targets"],
                sources=saved["sources"],
                weights=saved["weights"],
                watermark=str(saved["watermark"]),
                decayed_at=float(saved["decayed_at"]),
                waiting=set(saved["waiting"].tolist()),
                written={
                    int(source): (
                        saved["written_targets"][low:high],
                        saved["written_weights"][low:high],
                    )
                    for source, low, high in zip(
                        saved["written_sources"].tolist(),
                        saved["written_offsets"][:-1].tolist(),
                        saved["written_offsets"][1:].tolist(),
                        strict=True,
                    )
                },
            )
