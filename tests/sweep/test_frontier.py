"""Pareto frontier, winner and closest failure over hand-made outcomes (table-driven)."""

from __future__ import annotations

import json

import pytest

from slimline.registry.gates import GateResult
from slimline.sweep.frontier import (
    Outcome,
    by_size,
    closest_failure,
    mark_pareto,
    pareto_front,
    winner,
)
from slimline.sweep.report import Verdict, write

GATES = {"heldout.ppl": 0.95, "facts.acc": 0.9}


def outcome(name: str, size: float, ppl: float | None, acc: float | None,
            version: str | None = None) -> Outcome:
    """A point whose retentions are `ppl` and `acc` (None: not evaluated), registered as
    `version` (default: its own)."""
    gates = [GateResult(metric, least, kept, 1.0, kept)
             for (metric, least), kept in zip(GATES.items(), (ppl, acc), strict=True)]
    return Outcome(name, f"overrides of {name}", version or name.removeprefix("p"),
                   "quantized", size, gates)


@pytest.mark.parametrize(("points", "front"), [
    # Bigger and better is on the front; bigger and worse is not.
    ([("p1", 10, 0.90, 1), ("p2", 20, 0.97, 1), ("p3", 30, 0.96, 1)], ["p1", "p2"]),
    # Equal size: only the better of the two.
    ([("p1", 10, 0.90, 1), ("p2", 10, 0.99, 1)], ["p2"]),
    # Not evaluated: never on the front.
    ([("p1", 10, None, 1), ("p2", 20, 0.97, 1)], ["p2"]),
    ([], []),
])
def test_pareto_front(points, front):
    outcomes = [outcome(*p) for p in points]
    assert [o.name for o in pareto_front(outcomes, "heldout.ppl")] == front


@pytest.mark.parametrize(("points", "best", "runner"), [
    # The smallest point fails a gate: the next smallest passing one wins.
    ([("p1", 10, 0.90, 1), ("p2", 20, 0.97, 0.95), ("p3", 30, 0.99, 0.99)], "p2", "p3"),
    # Input order does not matter, only size.
    ([("p3", 30, 0.99, 0.99), ("p2", 20, 0.97, 0.95)], "p2", "p3"),
    # Equal size: the larger margin over the gates first.
    ([("p1", 20, 0.96, 0.91), ("p2", 20, 0.99, 0.99)], "p2", "p1"),
    # One passes: no runner-up.
    ([("p1", 10, 0.90, 1), ("p2", 20, 0.97, 0.95)], "p2", None),
    # A gate that could not be evaluated fails (as in `slimline promote`).
    ([("p1", 10, None, 1), ("p2", 20, 0.97, 0.95)], "p2", None),
    ([("p1", 10, 0.90, 1)], None, None),
    # p2 reached p1's version (the same model by other overrides): not a runner-up.
    ([("p1", 10, 0.97, 1), ("p2", 10, 0.97, 1, "1"), ("p3", 30, 0.99, 0.99)], "p1", "p3"),
    ([("p1", 10, 0.97, 1), ("p2", 10, 0.97, 1, "1")], "p1", None),
])
def test_winner(points, best, runner):
    w, r = winner([outcome(*p) for p in points])
    assert (w.name if w else None, r.name if r else None) == (best, runner)


@pytest.mark.parametrize(("points", "name", "metric"), [
    # p2 misses acc by 1 point, p1 misses ppl by 5: p2 is closest, on acc.
    ([("p1", 10, 0.90, 1), ("p2", 20, 0.97, 0.89)], "p2", "facts.acc"),
    # A point is as far as its worst gate.
    ([("p1", 10, 0.94, 0.5), ("p2", 20, 0.93, 0.89)], "p2", "heldout.ppl"),
    # Unevaluated is the farthest of all.
    ([("p1", 10, None, 1), ("p2", 20, 0.5, 0.5)], "p2", "heldout.ppl"),
])
def test_closest_failure(points, name, metric):
    o, gate = closest_failure([outcome(*p) for p in points])
    assert (o.name, gate.metric) == (name, metric)


def test_closest_failure_when_all_pass():
    assert closest_failure([outcome("p1", 10, 1, 1)]) is None


def test_frontier_files(tmp_path):
    outcomes = [outcome("p3", 30, 0.99, 0.99), outcome("p1", 10, 0.90, 1),
                outcome("p2", 20, 0.97, 0.95)]
    mark_pareto(outcomes, sorted(GATES))
    best, runner = winner(outcomes)
    verdict = Verdict("abc12345", "slimline", GATES, by_size(outcomes), best, runner, None, [])
    md, js, png = write(verdict, tmp_path)
    assert md.parent == tmp_path / "sweeps" / "abc12345" and png.stat().st_size > 0
    rows = [line for line in md.read_text().splitlines() if line.startswith("| `")]
    assert [r.split("`")[1] for r in rows] == ["p1", "p2", "p3"]  # sorted by size
    assert "**winner**" in rows[1] and "FAIL" in rows[0] and "runner-up" in rows[2]
    record = json.loads(js.read_text())
    assert record["winner"] == "p2" and record["runner_up"] == "p3"
    assert [p["name"] for p in record["points"]] == ["p1", "p2", "p3"]
    assert record["points"][0]["gates"]["facts.acc"] == {
        "value": 1, "base": 1.0, "retention": 1, "least": 0.9, "passed": True, "pareto": True}
    assert "winner: p2" in verdict.summary()


def test_one_model_under_two_names_is_starred_and_drawn_once(tmp_path):
    """Two channel ratios that round to one width register one version: both rows say so,
    both are on the front, and the runner-up is the next model."""
    outcomes = [outcome("p1", 10, 0.97, 1), outcome("p2", 10, 0.97, 1, version="1"),
                outcome("p3", 30, 0.99, 0.99)]
    mark_pareto(outcomes, sorted(GATES))
    assert [o.pareto["heldout.ppl"] for o in outcomes] == [True, True, True]
    best, runner = winner(outcomes)
    verdict = Verdict("abc12345", "slimline", GATES, by_size(outcomes), best, runner, None, [])
    md = write(verdict, tmp_path)[0].read_text()
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert "**winner**" in rows[0] and "(same model as `p1`)" in rows[1]
    assert "runner-up" in rows[2] and "same model" not in rows[0] + rows[2]
