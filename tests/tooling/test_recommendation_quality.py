"""The recommendations benchmark's protocols (bench/recommendation_quality.py), on small
synthetic data: no validation or test interaction is ever learned from or tuned on, and
the fast scoring used for tuning ranks as Stockroom's own `suggest` does."""

import random

import numpy as np
import pytest

from bench import recommendation_quality as quality


def synthetic(people: int = 24, items: int = 40, seed: int = 1) -> list[tuple[str, str, int]]:
    """(person, item, timestamp) lines, shuffled; each person buys distinct items, two
    clusters of tastes, stamps unique per person and spread over everyone's time."""
    rng = random.Random(seed)
    rows = []
    for person in range(people):
        taste = range(0, items // 2) if person % 2 else range(items // 2, items)
        bought = rng.sample(list(taste), rng.randint(4, 14))
        start = rng.randint(0, 500)
        rows += [
            (str(person), str(item), start + 37 * step + person) for step, item in enumerate(bought)
        ]
    # Someone away between the two cuts: their next purchase is the test's, not validation's.
    rows += [("away", "0", 0), ("away", "1", 1), ("away", "2", 10_000)]
    rng.shuffle(rows)
    return rows


@pytest.fixture
def lines() -> tuple[int, list[quality.Timeline]]:
    names, lines = quality.timelines(synthetic())
    return len(names), lines


def test_timelines_are_in_time_order_with_file_order_breaking_ties():
    names, lines = quality.timelines([("1", "b", 5), ("1", "a", 3), ("2", "a", 1), ("1", "c", 5)])
    assert names == ["a", "b", "c"]
    assert lines == [[(3, 0), (5, 1), (5, 2)], [(1, 0)]]


def test_leave_last_out_learns_neither_held_out_item(lines):
    items, timelines = lines
    validation, test = quality.leave_last_out(timelines, items)
    assert validation.people == test.people
    assert validation.people == [p for p, line in enumerate(timelines) if len(line) >= 3]
    for row, person in enumerate(test.people):
        line = [item for _, item in timelines[person]]
        assert (validation.targets[row], test.targets[row]) == (line[-2], line[-1])
        # Tuning learns everything but both; the test learns the validation item too.
        assert validation.sequences[person] == line[:-2]
        assert test.sequences[person] == line[:-1]
        assert line[-1] not in validation.sequences[person] + test.sequences[person]
        assert line[-2] not in validation.sequences[person]


def test_time_split_learns_only_what_came_before_its_cuts(lines):
    items, timelines = lines
    validation, test, cuts = quality.time_folds(timelines, items)
    early, cut = cuts["validation_cut"], cuts["test_cut"]
    assert early < cut
    assert test.people and validation.people
    for fold, bound, asked_before in ((validation, early, cut), (test, cut, None)):
        for person, line in enumerate(timelines):
            assert fold.sequences[person] == [item for stamp, item in line if stamp < bound]
        for row, person in enumerate(fold.people):
            after = [(stamp, item) for stamp, item in timelines[person] if stamp >= bound]
            assert fold.sequences[person]  # history before the cut
            assert fold.targets[row] == after[0][1]  # the first interaction after it
            if asked_before is not None:  # validation never asks what the test asks
                assert after[0][0] < asked_before
    away = len(timelines) - 1
    assert away in test.people and away not in validation.people
    # Everyone with history before the cut and an interaction after it is tested.
    assert test.people == [
        p
        for p, line in enumerate(timelines)
        if any(stamp < cut for stamp, _ in line) and any(stamp >= cut for stamp, _ in line)
    ]


@pytest.fixture
def small_grids(monkeypatch):
    """The grids cut down so that every model is tuned in well under a second."""
    monkeypatch.setattr(quality, "KNN_WEIGHTINGS", ("cosine", "bm25"))
    monkeypatch.setattr(quality, "KNN_NEIGHBOURS", (5, 20))
    monkeypatch.setattr(quality, "DECAYS", (0.5, 1.0))
    monkeypatch.setattr(quality, "LENGTHS", (3, None))
    monkeypatch.setattr(quality, "SEQUENCE_LAST", (1, 3))
    monkeypatch.setattr(quality, "SEQUENCE_DECAYS", (0.5,))
    monkeypatch.setattr(quality, "STOCKROOM_PRIOR", (3, 10))
    monkeypatch.setattr(quality, "STOCKROOM_HISTORY", (3, 10))
    monkeypatch.setattr(quality, "STOCKROOM_DECAYS", (0.5, 1.0))
    monkeypatch.setattr(quality, "BOOTSTRAP", 50)


def test_settings_are_chosen_without_looking_at_the_test_items(lines, small_grids):
    items, timelines = lines
    validation, test = quality.leave_last_out(timelines, items)
    measured = quality.protocol(validation, test)
    rng = random.Random(7)
    others = quality.Fold(
        test.items, test.sequences, test.people, [rng.randrange(items) for _ in test.targets]
    )
    again = quality.protocol(validation, others)
    for name, figures in measured["models"].items():
        assert again["models"][name]["settings"] == figures["settings"]
        if "validation_hr_at_10" in figures:
            assert again["models"][name]["validation_hr_at_10"] == figures["validation_hr_at_10"]
    assert measured["models"]["stockroom"]["settings_tried"] == 2 * 2 * 2


def test_tuning_picks_the_setting_that_is_best_on_validation():
    # Person 0 bought 0 then 1 then 2; person 1 buys 1 then 3 (asked for 3 after 1).
    fold = quality.Fold(14, [[0, 1, 2], [1]], [1], [3])
    transitions = quality.transitions(fold, {})
    assert transitions[0, 1] == 1 and transitions[1, 2] == 1 and transitions.nnz == 2
    seen = quality.Candidate(
        "fixed",
        lambda fold, _: None,
        lambda fold, _, s: np.eye(fold.items)[[s["item"]]],
        [{}],
        [{"item": 2}, {"item": 3}, {"item": 4}],
    )
    _, serving, hit_rate, tried = quality.tune(seen, fold)
    assert (serving, hit_rate, tried) == ({"item": 3}, 1.0, 3)


def test_top_leaves_out_history_and_fills_with_best_sellers():
    fold = quality.Fold(14, [[0, 1], [2]], [0, 1], [5, 2])
    scores = np.zeros((2, 14))
    scores[0, [0, 3, 4]] = [9.0, 2.0, 1.0]  # 0 was bought: never suggested
    popular = np.arange(14, dtype=float)  # 13 sells best
    ranked = quality.top(fold, scores, popular)
    assert ranked[0].tolist() == [3, 4, 13, 12, 11, 10, 9, 8, 7, 6]
    assert 2 not in ranked[1] and ranked[1, 0] == 13
    hits, gains = quality.graded(fold, ranked)
    assert hits.tolist() == [0.0, 0.0]
    hits, gains = quality.graded(quality.Fold(14, fold.sequences, [0], [4]), ranked[:1])
    assert hits.tolist() == [1.0] and gains[0] == pytest.approx(1 / np.log2(3))


def test_fast_scores_rank_as_suggest_does(lines):
    items, timelines = lines
    _, test = quality.leave_last_out(timelines, items)
    model = quality.stockroom()
    trained = model.learn(test, {"prior_skus": 5})
    for serving in ({"history_skus": 3, "decay": 0.5}, {"history_skus": 10, "decay": 0.9}):
        fast = quality.top(test, model.score(test, trained, serving), quality.counts(test))
        served = quality.stockroom_answer(test, trained, serving)
        scores = model.score(test, trained, serving)
        for row, person in enumerate(test.people):
            scores[row, test.sequences[person]] = 0.0  # never suggested
            # Where the model has ten positive scores both lists are the model's own.
            if (scores[row] > 0).sum() >= quality.CUTOFF:
                assert fast[row].tolist() == served[row].tolist()
            else:
                positive = [i for i in served[row] if scores[row, i] > 0]
                assert fast[row][: len(positive)].tolist() == positive


def test_shuffled_keeps_each_persons_items_and_targets(lines):
    items, timelines = lines
    _, test = quality.leave_last_out(timelines, items)
    mixed = quality.shuffled(test)
    assert (mixed.people, mixed.targets) == (test.people, test.targets)
    assert [sorted(s) for s in mixed.sequences] == [sorted(s) for s in test.sequences]
    assert mixed.sequences != test.sequences


def test_ratio_interval_brackets_the_ratio():
    ours = np.array([1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
    theirs = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0])
    low, high = quality.ratio_interval(ours, theirs)
    assert low < ours.mean() / theirs.mean() < high
