"""Recommendation quality measured as a reviewer would accept it: every setting of every
model chosen on a validation split, the test items scored once, under two protocols.

- Leave last out: each person's last interaction (by timestamp; ties: the later line of
  the file) is the test item and the one before it the validation item. Settings are
  tuned with models trained on everything but those two; the test is scored by models
  trained on everything but the test item (the validation item included).
- Time split: a global cut-off (a quantile of all timestamps). Models learn from
  everything before it; each person with history before it is tested on their first
  interaction after it. Settings are tuned the same way one cut earlier, on what
  happened before the test cut only.

Models, each with its grid: popularity; `implicit`'s item-kNN (cosine, BM25, TF-IDF
weighting; K neighbours) over the whole history; the same similarities served with
recency (the newest `length` items, each weighted `decay` times the one after it); a
first-order sequential model (what was bought right after each of the last items); and
Stockroom's own code (trainer and `suggest`), its PRIOR_SKUS, HISTORY_SKUS and
RECENCY_DECAY tuned. Scores are computed as sparse products (numpy/scipy); Stockroom's
test answers come from `suggest` itself. Every model's empty places are filled with best
sellers, as Stockroom's are.
"""

import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from devtools.template import ROOT, on_path

TRAINER = ROOT / "functions" / "recommendation_trainer"  # the model's code
CUTOFF = 10
# The grids (what is tuned on validation). kNN weighting x K, then serving recency.
KNN_WEIGHTINGS = ("cosine", "bm25", "tfidf")
KNN_NEIGHBOURS = (20, 50, 100, 200)
DECAYS = (0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
LENGTHS: tuple[int | None, ...] = (10, 20, 50, None)  # None: the whole history
SEQUENCE_LAST = (1, 2, 3, 5)
SEQUENCE_DECAYS = (0.25, 0.5, 0.75)
STOCKROOM_PRIOR = (5, 10, 20, 40)
STOCKROOM_HISTORY = (5, 10, 20, 40)
STOCKROOM_DECAYS = (0.6, 0.7, 0.8, 0.9, 1.0)
# The time split's cut-offs, as quantiles of every timestamp: validation, then test.
TIME_CUTS = (0.5, 0.7)
BOOTSTRAP = 2000
RECENCY_AWARE = ("item-kNN + recency", "sequential")

type Ints = npt.NDArray[np.int64]
type Floats = npt.NDArray[np.float64]
# Each person's interactions in time order, as (timestamp, item).
type Timeline = list[tuple[int, int]]
type Settings = dict[str, Any]


@dataclass(frozen=True)
class Fold:
    """What models may learn from, and what they are asked. `sequences[p]` is person p's
    training interactions in time order (everyone's, evaluated or not); `people[i]` is
    asked for `targets[i]`, knowing `sequences[people[i]]`."""

    items: int
    sequences: list[list[int]]
    people: list[int]
    targets: list[int]


def timelines(rows: Sequence[tuple[str, str, int]]) -> tuple[list[str], list[Timeline]]:
    """Item names and each person's (timestamp, item) in time order (ties: file order)."""
    by_person: dict[str, list[tuple[int, int, str]]] = {}
    for line, (person, item, stamp) in enumerate(rows):
        by_person.setdefault(person, []).append((stamp, line, item))
    names = sorted({item for _, item, _ in rows}, key=_natural)
    index = {item: position for position, item in enumerate(names)}
    people = sorted(by_person, key=_natural)
    return names, [
        [(stamp, index[item]) for stamp, _, item in sorted(by_person[p])] for p in people
    ]


def _natural(name: str) -> tuple[bool, int, str]:
    """Numbers in numeric order, then any other name."""
    return (not name.isdigit(), int(name) if name.isdigit() else 0, name)


def leave_last_out(lines: list[Timeline], items: int) -> tuple[Fold, Fold]:
    """(validation, test): the second-to-last and the last interaction held out. A
    person with fewer than three interactions is not asked; their history still teaches."""
    asked = [p for p, line in enumerate(lines) if len(line) >= 3]

    def fold(held: int) -> Fold:
        kept = [line[:-held] if len(line) >= 3 else line for line in lines]
        return Fold(
            items,
            [[item for _, item in line] for line in kept],
            asked,
            [lines[p][-held][1] for p in asked],
        )

    return fold(2), fold(1)


def time_split(lines: list[Timeline], items: int, cut: int) -> Fold:
    """Everything before `cut` learned; each person with history before it asked for
    their first interaction at or after it."""
    sequences = [[item for stamp, item in line if stamp < cut] for line in lines]
    asked = [p for p, line in enumerate(lines) if sequences[p] and len(sequences[p]) < len(line)]
    return Fold(items, sequences, asked, [lines[p][len(sequences[p])][1] for p in asked])


def time_folds(lines: list[Timeline], items: int) -> tuple[Fold, Fold, dict[str, int]]:
    """(validation, test) of the time split, and the two cut-offs. Validation sees only
    what happened before the test's cut."""
    stamps = np.fromiter((stamp for line in lines for stamp, _ in line), dtype=np.int64)
    early, cut = (int(np.quantile(stamps, q)) for q in TIME_CUTS)
    before = [[(stamp, item) for stamp, item in line if stamp < cut] for line in lines]
    cuts = {"validation_cut": early, "test_cut": cut}
    return time_split(before, items, early), time_split(lines, items, cut), cuts


# ------------------------------------------------------------------------- scoring
def counts(fold: Fold) -> Floats:
    """How often each item was bought in the fold's training interactions."""
    bought = np.zeros(fold.items)
    for sequence in fold.sequences:
        np.add.at(bought, sequence, 1.0)
    return bought


def recency(fold: Fold, decay: float, length: int | None) -> csr_matrix:
    """One row per person asked: their newest `length` items weighted 1, decay, decay^2..."""
    rows: list[int] = []
    columns: list[int] = []
    values: list[float] = []
    for row, person in enumerate(fold.people):
        newest = fold.sequences[person][::-1][:length]
        rows += [row] * len(newest)
        columns += newest
        values += (decay ** np.arange(len(newest))).tolist()
    return csr_matrix((values, (rows, columns)), shape=(len(fold.people), fold.items))


def top(fold: Fold, scores: Floats, popular: Floats) -> Ints:
    """The CUTOFF best items of each person asked: positive scores first, then best
    sellers; never an item of their history."""
    filler = popular / (2.0 * max(float(popular.max()), 1.0)) - 1.0  # in [-1, 0)
    ranked = np.where(scores > 0, scores, filler[None, :])
    for row, person in enumerate(fold.people):
        ranked[row, fold.sequences[person]] = -np.inf
    best = np.argpartition(-ranked, CUTOFF, axis=1)[:, :CUTOFF]
    order = np.argsort(-np.take_along_axis(ranked, best, axis=1), axis=1, kind="stable")
    return np.take_along_axis(best, order, axis=1)


def graded(fold: Fold, ranked: Ints) -> tuple[Floats, Floats]:
    """Per person asked: hit (1 or 0) and NDCG@CUTOFF of their target in `ranked`."""
    found = ranked == np.asarray(fold.targets)[:, None]
    hits = found.any(axis=1).astype(float)
    gains = (found / np.log2(np.arange(2, CUTOFF + 2))).sum(axis=1)
    return hits, gains


# -------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Candidate:
    """A model: what it learns from a fold under each training setting, and the scores
    (people asked x items) it gives under each serving setting. `answer`, when set, is
    how the test is answered instead of ranking the scores (Stockroom's own `suggest`)."""

    name: str
    learn: Callable[[Fold, Settings], Any]
    score: Callable[[Fold, Any, Settings], Floats]
    training: list[Settings]
    serving: list[Settings]
    answer: Callable[[Fold, Any, Settings], Ints] | None = None


def _product(fold: Fold, matrix: csr_matrix, decay: float, length: int | None) -> Floats:
    return np.asarray((recency(fold, decay, length) @ matrix).toarray())


def _no_scores(fold: Fold, _: Any, __: Settings) -> Floats:
    return np.zeros((len(fold.people), fold.items))


def similarities(fold: Fold, settings: Settings) -> csr_matrix:
    """`implicit`'s item-item similarities (its K strongest per item)."""
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

    warnings.filterwarnings("ignore", "Method expects CSR input")  # implicit's own COO
    kinds = {"cosine": CosineRecommender, "bm25": BM25Recommender, "tfidf": TFIDFRecommender}
    model = kinds[settings["weighting"]](K=settings["k"])
    people = [p for p, sequence in enumerate(fold.sequences) for _ in sequence]
    items = [item for sequence in fold.sequences for item in sequence]
    bought = csr_matrix(
        (np.ones(len(items), dtype=np.float32), (people, items)),
        shape=(len(fold.sequences), fold.items),
    )
    model.fit(bought, show_progress=False)
    return model.similarity.astype(np.float64)


def transitions(fold: Fold, _: Settings) -> csr_matrix:
    """How often each item was bought right after each other one (first-order)."""
    before = [a for sequence in fold.sequences for a in sequence[:-1]]
    after = [b for sequence in fold.sequences for b in sequence[1:]]
    return csr_matrix(
        (np.ones(len(before)), (before, after)), shape=(fold.items, fold.items)
    ).tocsr()


def baselines() -> list[Candidate]:
    knn_grid = [{"weighting": w, "k": k} for w in KNN_WEIGHTINGS for k in KNN_NEIGHBOURS]
    return [
        Candidate("popularity", lambda fold, _: None, _no_scores, [{}], [{}]),
        Candidate(
            "item-kNN (implicit)",
            similarities,
            lambda fold, learned, _: _product(fold, learned, 1.0, None),
            knn_grid,
            [{}],
        ),
        Candidate(
            "item-kNN + recency",
            similarities,
            lambda fold, learned, s: _product(fold, learned, s["decay"], s["length"]),
            knn_grid,
            [{"decay": d, "length": n} for d in DECAYS for n in LENGTHS],
        ),
        Candidate(
            "sequential",
            transitions,
            lambda fold, learned, s: _product(fold, learned, s["decay"], s["last"]),
            [{}],
            [{"last": 1, "decay": 1.0}]
            + [{"last": n, "decay": d} for n in SEQUENCE_LAST[1:] for d in SEQUENCE_DECAYS],
        ),
    ]


# ------------------------------------------------------------------------ stockroom
@contextmanager
def product_settings(**values: Any) -> Iterator[None]:
    """The product's constants (stockroom.recommendations) set for a trial, then restored:
    the code under test reads them as deployed code does."""
    from stockroom import recommendations

    before = {name: getattr(recommendations, name) for name in values}
    for name, value in values.items():
        setattr(recommendations, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(recommendations, name, value)


@dataclass
class Trained:
    rows: dict[str, Any]  # SKU -> its row, as the trainer writes it
    matrix: csr_matrix  # the same rows, sources x targets
    popular: Any
    purchases: list[Any]  # each person's purchase history, as the feed keeps it
    seconds: float


def stockroom_learn(fold: Fold, settings: Settings) -> Trained:
    """Each history replayed as one-line confirmed orders through the feed's own history
    code (SKU: the item's number), the baskets folded and solved by the trainer's model."""
    on_path(TRAINER)
    from stockroom.models import Order, OrderLine, OrderStatus, PurchaseHistory
    from stockroom.recommendations import purchase_change
    from training import Model

    started = time.perf_counter()
    baskets = []
    purchases = []
    with product_settings(PRIOR_SKUS=settings["prior_skus"]):
        for person, sequence in enumerate(fold.sequences):
            state = PurchaseHistory()
            for position, item in enumerate(sequence):
                line = OrderLine(sku=str(item), quantity=1, unit_price_cents=100)
                order = Order(
                    order_id=f"{person}-{position}",
                    customer_id=str(person),
                    status=OrderStatus.CONFIRMED,
                    items=[line],
                    total_cents=100,
                    currency="USD",
                    created_at="",
                    updated_at="",
                )
                change = purchase_change(order, state, position)
                if change is not None:
                    state, basket = change
                    baskets.append(basket)
            purchases.append(state)
    model = Model()
    model.fold(baskets, now=0.0)
    rows = model.rows(model.solve_all())
    sources = [int(sku) for sku, row in rows.items() for _ in row]
    targets = [int(sku) for row in rows.values() for sku, _ in row]
    weights = [weight for row in rows.values() for _, weight in row]
    matrix = csr_matrix((weights, (sources, targets)), shape=(fold.items, fold.items))
    seconds = time.perf_counter() - started
    return Trained(rows, matrix, model.popular(), purchases, seconds)


def stockroom_answer(fold: Fold, trained: Trained, settings: Settings) -> Ints:
    """Each person's answer from `suggest`, as GET /recommendations computes it."""
    from stockroom.models import ViewHistory
    from stockroom.recommendations import recent_skus, suggest

    answers = np.full((len(fold.people), CUTOFF), -1, dtype=np.int64)
    values = {"HISTORY_SKUS": settings["history_skus"], "RECENCY_DECAY": settings["decay"]}
    with product_settings(**values):
        for row, person in enumerate(fold.people):
            history = recent_skus(ViewHistory(), trained.purchases[person])
            seen = [str(item) for item in fold.sequences[person]]
            found = suggest(history, trained.rows, seen, trained.popular, CUTOFF)
            answers[row, : len(found)] = [int(s.sku) for s in found]
    return answers


def deployed_settings() -> tuple[Settings, Settings]:
    """The settings the product runs with (stockroom.recommendations' constants)."""
    from stockroom import recommendations

    return (
        {"prior_skus": recommendations.PRIOR_SKUS},
        {"history_skus": recommendations.HISTORY_SKUS, "decay": recommendations.RECENCY_DECAY},
    )


def stockroom() -> Candidate:
    return Candidate(
        "stockroom",
        stockroom_learn,
        lambda fold, trained, s: _product(fold, trained.matrix, s["decay"], s["history_skus"]),
        [{"prior_skus": n} for n in STOCKROOM_PRIOR],
        [{"history_skus": n, "decay": d} for n in STOCKROOM_HISTORY for d in STOCKROOM_DECAYS],
        stockroom_answer,
    )


# ------------------------------------------------------------------------ protocol
def _mean(values: Floats) -> float:
    return float(values.mean()) if len(values) else 0.0


def _error(values: Floats) -> float:
    """The standard error of a mean over people."""
    return float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def tune(model: Candidate, validation: Fold) -> tuple[Settings, Settings, float, int]:
    """The training and serving settings with the best HR@10 (then NDCG@10) on
    validation, that HR@10, and how many settings were tried."""
    popular = counts(validation)
    best: tuple[tuple[float, float], Settings, Settings] = ((-1.0, -1.0), {}, {})
    for training in model.training:
        learned = model.learn(validation, training)
        for serving in model.serving:
            scores = model.score(validation, learned, serving)
            hits, gains = graded(validation, top(validation, scores, popular))
            if (found := (_mean(hits), _mean(gains))) > best[0]:
                best = found, training, serving
    return best[1], best[2], best[0][0], len(model.training) * len(model.serving)


def tested(model: Candidate, test: Fold, training: Settings, serving: Settings) -> dict[str, Any]:
    """The test scored once with the given settings: per person hits and gains."""
    learned = model.learn(test, training)
    if model.answer is not None:
        ranked = model.answer(test, learned, serving)
    else:
        ranked = top(test, model.score(test, learned, serving), counts(test))
    hits, gains = graded(test, ranked)
    figures = {
        "hr_at_10": round(_mean(hits), 4),
        "hr_se": round(_error(hits), 4),
        "ndcg_at_10": round(_mean(gains), 4),
        "ndcg_se": round(_error(gains), 4),
        "hits": hits,
    }
    if isinstance(learned, Trained):
        figures["train_seconds"] = round(learned.seconds, 2)
    return figures


def shuffled(fold: Fold, seed: int = 3) -> Fold:
    """The fold with each person's training interactions in random order."""
    rng = np.random.default_rng(seed)
    return replace(fold, sequences=[rng.permutation(s).tolist() for s in fold.sequences])


def ratio_interval(ours: Floats, theirs: Floats, seed: int = 5) -> list[float]:
    """95% paired bootstrap interval (people resampled) of mean(ours) / mean(theirs)."""
    if not len(ours):
        return [0.0, 0.0]
    picks = np.random.default_rng(seed).integers(0, len(ours), size=(BOOTSTRAP, len(ours)))
    theirs_means = theirs[picks].mean(axis=1)
    ratios = ours[picks].mean(axis=1) / np.where(theirs_means > 0, theirs_means, np.nan)
    return [round(float(q), 3) for q in np.nanpercentile(ratios, [2.5, 97.5])]


def protocol(validation: Fold, test: Fold) -> dict[str, Any]:
    """Every model tuned on `validation`, scored once on `test`; Stockroom again with each
    history's order shuffled (its chosen settings), and with the settings it ships with."""
    models: dict[str, dict[str, Any]] = {}
    for model in [*baselines(), stockroom()]:
        training, serving, chosen_hr, tried = tune(model, validation)
        models[model.name] = {
            "settings": training | serving,
            "settings_tried": tried,
            "validation_hr_at_10": round(chosen_hr, 4),
            **tested(model, test, training, serving),
        }
        if model.name == "stockroom":
            ablation = tested(model, shuffled(test), training, serving)
            models["stockroom, order shuffled"] = {"settings": training | serving, **ablation}
            deployed = deployed_settings()
            models["stockroom as deployed"] = {
                "settings": deployed[0] | deployed[1],
                **tested(model, test, *deployed),
            }
    best = max(RECENCY_AWARE, key=lambda name: models[name]["hr_at_10"])
    ours = models["stockroom"]

    def times(name: str) -> float | None:
        theirs = models[name]["hr_at_10"]
        return round(ours["hr_at_10"] / theirs, 3) if theirs else None

    summary = {
        "people_validation": len(validation.people),
        "people": len(test.people),
        "best_recency_aware": best,
        "x_best_recency_aware": times(best),
        "x_best_recency_aware_interval": ratio_interval(ours["hits"], models[best]["hits"]),
        "x_item_knn": times("item-kNN (implicit)"),
        "x_popularity": times("popularity"),
    }
    for figures in models.values():
        del figures["hits"]
    return summary | {"models": models}


def quality(rows: Sequence[tuple[str, str, int]], users: int | None) -> dict[str, Any]:
    """Both protocols on `rows` (user, item, timestamp), the first `users` people only
    if given."""
    names, lines = timelines(rows)
    lines = lines[:users] if users else lines
    started = time.perf_counter()
    last_out = protocol(*leave_last_out(lines, len(names)))
    validation, test, cuts = time_folds(lines, len(names))
    by_time = protocol(validation, test) | cuts
    return {
        "users": len(lines),
        "items": len({item for line in lines for _, item in line}),
        "interactions": sum(map(len, lines)),
        "leave_last_out": last_out,
        "time_split": by_time,
        "seconds": round(time.perf_counter() - started, 1),
    }
