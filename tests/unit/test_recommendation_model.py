"""The recommendation model (functions/recommendation_trainer/training.py) and the ranking
the API answers with
(stockroom/recommendations.suggest), on planted data, without AWS."""

import numpy as np
import pytest

from stockroom.models import (
    Basket,
    BasketKind,
    Order,
    OrderLine,
    OrderStatus,
    PurchaseHistory,
)
from stockroom.recommendations import (
    BOUGHT_KEPT,
    ORDER_SKUS,
    PRIOR_SKUS,
    purchase_change,
    suggest,
)
from training import CANDIDATES, MAX_PARTNERS, NEIGHBOURS, RIDGE, Model


def basket(
    *skus: str, prior: tuple[str, ...] = (), kind: BasketKind = BasketKind.PURCHASE
) -> Basket:
    return Basket(
        key="k", kind=kind, skus=list(skus), prior=list(prior), at="2026-12-02T00:00:00.000000Z"
    )


def planted() -> Model:
    """Customers who buy A also buy B; C and D sell on their own, C more than B."""
    model = Model()
    model.fold(
        [basket("A", "B") for _ in range(6)]
        + [basket("C") for _ in range(20)]
        + [basket("A", "D"), basket("D")],
        now=1.0,
    )
    model.solve_all()
    return model


def test_a_sku_bought_with_another_ranks_it_first():
    rows = planted().rows(range(4))
    assert rows["A"][0][0] == "B"
    assert rows["B"][0][0] == "A"
    assert [sku for sku, _ in rows["A"]] == ["B", "D"]
    assert "C" not in dict(rows["A"])  # never bought with A


def test_a_customer_who_bought_a_is_offered_b_and_not_a():
    model = planted()
    suggestions = suggest(["A"], model.rows(range(4)), ["A"], model.popular(), 3)
    assert [s.sku for s in suggestions[:2]] == ["B", "D"]
    assert suggestions[0].because == "A"
    assert "A" not in [s.sku for s in suggestions]
    # the third place goes to the best seller the model has nothing to say about
    assert (
        suggestions[2].sku == "C" and suggestions[2].score == 0 and suggestions[2].because is None
    )


def test_best_sellers_answer_for_no_history_best_first():
    model = planted()
    assert [s.sku for s in suggest([], {}, [], model.popular(), 10)] == ["C", "A", "B", "D"]
    assert model.popular()[0] == ("C", 20.0)


def test_newer_history_weighs_more_and_because_names_the_strongest_source():
    rows = {"OLD": [("X", 1.0), ("Y", 0.5)], "NEW": [("Y", 0.9)]}
    suggestions = suggest(["NEW", "OLD"], rows, [], [], 5)
    # Y: 0.9 + 0.8 * 0.5 = 1.3 > X: 0.8 * 1.0
    assert [(s.sku, s.because) for s in suggestions] == [("Y", "NEW"), ("X", "OLD")]
    assert suggestions[0].score == pytest.approx(1.3)


def test_excluded_and_history_skus_are_never_suggested_even_as_best_sellers():
    rows = {"A": [("B", 1.0), ("C", 0.5)]}
    suggestions = suggest(["A"], rows, ["B"], [("A", 9.0), ("B", 8.0), ("E", 1.0)], 5)
    assert [s.sku for s in suggestions] == ["C", "E"]


def test_with_every_pair_as_candidate_the_weights_are_dense_eases():
    rng = np.random.default_rng(7)
    skus = [f"S{i}" for i in range(12)]
    baskets = [basket(*rng.choice(skus, size=5, replace=False)) for _ in range(300)]
    model = Model()
    model.fold(baskets, now=1.0)
    model.solve_all()
    index = {sku: i for i, sku in enumerate(model.skus)}
    size = len(model.skus)
    counts = np.zeros((size, size))
    for b in baskets:
        for x in b.skus:
            counts[index[x], index[x]] += 1
            for y in b.skus:
                if x != y:
                    counts[index[x], index[y]] += 1
    assert (counts > 0).all()  # so every pair is a candidate
    for target in range(size):
        others = [i for i in range(size) if i != target]
        expected = np.linalg.solve(
            counts[np.ix_(others, others)] + RIDGE * np.eye(size - 1), counts[others, target]
        )
        mine = model.targets == target
        got = dict(zip(model.sources[mine].tolist(), model.weights[mine].tolist(), strict=True))
        assert [got[i] for i in others] == pytest.approx(expected.tolist(), rel=1e-9)


def test_a_cancellation_takes_its_purchase_back_exactly():
    model = Model()
    model.fold([basket("A", "B", prior=("C",))], now=1.0)
    model.fold([basket("A", "D")], now=1.0)
    model.fold([basket("A", "B", prior=("C",), kind=BasketKind.CANCEL)], now=1.0)
    a, b, c, d = (model.position(s) for s in "ABCD")
    partners, counts = model.partners(a)
    assert dict(zip(partners.tolist(), counts.tolist(), strict=True)) == {d: 1.0}
    assert model.bought[[a, b, c, d]].tolist() == [1.0, 0.0, 0.0, 1.0]
    assert dict(model.popular()) == {"A": 1.0, "D": 1.0}


def test_each_sku_keeps_only_its_strongest_partners():
    model = Model()
    partners = [f"P{i}" for i in range(MAX_PARTNERS + 20)]
    model.fold([basket("HUB", p) for p in partners], now=1.0)
    model.fold([basket("HUB", p) for p in partners[:5]], now=1.0)  # these five twice
    kept, counts = model.partners(model.position("HUB"))
    assert len(kept) == MAX_PARTNERS
    assert {model.skus[i] for i in kept} >= set(partners[:5])
    assert sorted(counts.tolist(), reverse=True)[:5] == [2.0] * 5


def test_solving_uses_at_most_the_candidates_and_rows_hold_at_most_the_neighbours():
    model = Model()
    others = [f"O{i}" for i in range(CANDIDATES + 30)]
    model.fold([basket("HUB", o) for o in others], now=1.0)
    model.solve_all()
    hub = model.position("HUB")
    assert (model.targets == hub).sum() == CANDIDATES
    assert len(model.rows([hub])["HUB"]) == NEIGHBOURS


def test_popularity_halves_over_its_half_life():
    model = Model()
    model.fold([basket("A")], now=0.0)
    model.fold([], now=30 * 86_400.0)
    ((sku, score),) = model.popular()
    assert sku == "A"
    assert score == pytest.approx(0.5)


def test_views_teach_pairs_but_do_not_make_best_sellers():
    model = Model()
    model.fold([basket("A", "B", kind=BasketKind.VIEW)], now=1.0)
    partners, counts = model.partners(model.position("A"))
    assert (partners.tolist(), counts.tolist()) == ([model.position("B")], [0.25])
    assert model.popular() == []


def test_the_model_survives_a_save_and_a_load():
    model = planted()
    model.watermark = "2026-12-02T07:25:11.123456Z"
    copy = Model.from_bytes(model.to_bytes())
    assert copy.skus == model.skus and copy.watermark == model.watermark
    assert copy.rows(range(4)) == model.rows(range(4))
    assert copy.popular() == model.popular()
    copy.fold([basket("A", "E")], now=2.0)  # the index is rebuilt: E is new, A is not
    assert copy.skus == [*model.skus, "E"]


def order(order_id: str, *skus: str, status: OrderStatus = OrderStatus.CONFIRMED) -> Order:
    return Order(
        order_id=order_id,
        customer_id="c-1",
        status=status,
        items=[OrderLine(sku=sku, quantity=1, unit_price_cents=100) for sku in skus],
        total_cents=100 * len(skus),
        currency="EUR",
        created_at="2026-12-02T00:00:00.000000Z",
        updated_at="2026-12-02T00:00:00.000000Z",
    )


def changed(placed: Order, history: PurchaseHistory, now: int) -> tuple[PurchaseHistory, Basket]:
    change = purchase_change(placed, history, now)
    assert change is not None
    return change


def test_a_confirmed_order_pairs_with_the_customers_earlier_purchases_once():
    history, first = changed(order("o1", "A", "B"), PurchaseHistory(), now=10)
    assert (first.kind, first.skus, first.prior) == (BasketKind.PURCHASE, ["A", "B"], [])
    history, second = changed(order("o2", "C", "A"), history, now=20)
    assert (second.skus, second.prior) == (["C", "A"], ["B"])
    assert [seen.sku for seen in history.bought] == ["C", "A", "B"]
    assert purchase_change(order("o2", "C", "A"), history, now=30) is None  # a repeat


@pytest.mark.parametrize("status", [OrderStatus.CANCELLED, OrderStatus.EXPIRED])
def test_a_cancelled_or_expired_order_is_taken_back_only_if_it_was_counted(status):
    history, _ = changed(order("o1", "A"), PurchaseHistory(), now=10)
    history, _ = changed(order("o2", "A", "B"), history, now=20)
    assert purchase_change(order("never", "X", status=status), history, 30) is None
    history, undo = changed(order("o2", "A", "B", status=status), history, 30)
    assert (undo.kind, undo.skus, undo.prior) == (BasketKind.CANCEL, ["A", "B"], [])
    # A was also bought in o1, which still counts; B was bought only in o2.
    assert [seen.sku for seen in history.bought] == ["A"]
    assert [o.order_id for o in history.orders] == ["o1"]


def test_what_one_order_teaches_and_what_a_history_keeps_are_bounded():
    history = PurchaseHistory()
    for n in range(BOUGHT_KEPT + 10):
        history, _ = changed(order(f"o{n}", f"S{n}"), history, now=n)
    assert len(history.bought) == BOUGHT_KEPT
    big = order("big", *[f"L{i}" for i in range(50)])
    history, taught = changed(big, history, now=10_000)
    assert len(taught.skus) == ORDER_SKUS and len(taught.prior) == PRIOR_SKUS


def test_only_rows_that_changed_are_written_again_best_sellers_first_up_to_a_limit():
    model = planted()
    everything = model.changed_rows(range(4))
    assert set(everything) == {"A", "B", "D"}  # C was never bought with anything
    assert model.changed_rows(range(4)) == {}  # nothing moved since
    model.fold([basket("C", "D") for _ in range(5)], now=1.0)
    first = model.changed_rows(model.solve_all(), limit=1)
    assert list(first) == ["C"]  # the best seller's row first
    assert model.waiting  # the other changed rows wait for the next run
    copy = Model.from_bytes(model.to_bytes())
    rest = copy.changed_rows([])
    assert "D" in rest and "C" not in rest
    assert copy.waiting == set()


def test_a_row_that_lost_every_entry_is_written_empty_once():
    model = Model()
    model.fold([basket("A", "B")], now=1.0)
    written = model.changed_rows(model.solve_all())
    assert {sku: [(t, round(w, 6)) for t, w in row] for sku, row in written.items()} == {
        "A": [("B", round(1 / 301, 6))],
        "B": [("A", round(1 / 301, 6))],
    }
    model.fold([basket("A", "B", kind=BasketKind.CANCEL)], now=1.0)
    assert model.changed_rows(model.solve_all()) == {"A": [], "B": []}
    assert model.changed_rows(model.solve_all()) == {}
