"""Grid expansion, point names and the waves that let shared stages run once."""

from __future__ import annotations

import pytest

from slimline.errors import SlimlineError
from slimline.sweep.grid import expand, load_grid_file, make_points, point_name, waves


@pytest.mark.parametrize(("overrides", "grid"), [
    (["prune.channel_ratio=0.25,0.5", "quantize=gptq,rtn"],
     [["prune.channel_ratio=0.25", "quantize=gptq"], ["prune.channel_ratio=0.25", "quantize=rtn"],
      ["prune.channel_ratio=0.5", "quantize=gptq"], ["prune.channel_ratio=0.5", "quantize=rtn"]]),
    (["quantize.bits=range(4,9,4)", "eval.limit=10"],
     [["quantize.bits=4", "eval.limit=10"], ["quantize.bits=8", "eval.limit=10"]]),
    (["quantize=choice(rtn,gptq)"], [["quantize=rtn"], ["quantize=gptq"]]),
    (["eval.tasks=[a,b]"], [["eval.tasks=[a,b]"]]),  # a list value is one value, not a sweep
    ([], [[]]),
])
def test_expand(overrides, grid):
    assert expand(overrides) == grid


def test_expand_rejects_what_cannot_be_swept():
    with pytest.raises(SlimlineError, match="cannot parse"):
        expand(["prune.channel_ratio=0.25,"])
    with pytest.raises(SlimlineError, match="deletion"):
        expand(["~registry.gates"])


def test_point_names_are_stable_readable_refs():
    name = point_name(["prune.channel_ratio=0.25", "quantize=rtn"], "params v1")
    assert name == point_name(["prune.channel_ratio=0.25", "quantize=rtn"], "params v1")
    assert name.startswith("sw-") and name.endswith("-channel_ratio0.25-rtn")
    # Another composition to start from is another point.
    assert name != point_name(["prune.channel_ratio=0.25", "quantize=rtn"], "params v2")
    assert "[" not in point_name(["eval.tasks=[a,b]"])
    points = make_points([["quantize=rtn"], ["quantize=rtn"], ["quantize=gptq"]])
    assert [p.overrides for p in points] == [("quantize=rtn",), ("quantize=gptq",)]


def _wave_shape(overrides, done=()):
    points = make_points(expand(overrides))
    finished = make_points(expand(done)) if done else []
    return [[p.overrides for p in wave] for wave in waves(points, finished)]


@pytest.mark.parametrize(("overrides", "sizes"), [
    # One full pipeline; the other prunes (sharing its base) and its other quantizer; the
    # other prunes' other quantizers.
    (["prune.channel_ratio=0.25,0.375,0.5", "quantize=gptq,rtn"], [1, 3, 2]),
    # Quantizers only: one builds base..recovered, the rest reuse it.
    (["quantize=gptq,rtn", "quantize.bits=4,8"], [1, 3]),
    # A base change shares nothing but the data stage.
    (["model.hidden_size=64,128", "quantize=gptq,rtn"], [1, 2, 1]),
    # Only evaluation differs: every model stage is shared.
    (["eval.limit=8,16,32"], [1, 2]),
    (["quantize=rtn"], [1]),
])
def test_waves(overrides, sizes):
    shape = _wave_shape(overrides)
    assert [len(w) for w in shape] == sizes
    assert sum(sizes) == len(expand(overrides))


def test_waves_count_finished_points_as_built():
    # The 0.25 prune exists already: its rtn sibling runs in the first wave.
    points = make_points(expand(["prune.channel_ratio=0.25,0.5", "quantize=gptq,rtn"]))
    remaining = waves(points[1:], make_points([["prune.channel_ratio=0.25", "quantize=gptq"]]))
    assert [[p.overrides for p in w] for w in remaining] == [
        [("prune.channel_ratio=0.25", "quantize=rtn"),
         ("prune.channel_ratio=0.5", "quantize=gptq")],
        [("prune.channel_ratio=0.5", "quantize=rtn")]]


def test_waves_start_from_the_stages_the_baseline_holds():
    # base..recover up to date in the workspace: quantizer points all run at once.
    points = make_points(expand(["quantize=gptq,rtn", "quantize.bits=4,8"]))
    assert [len(w) for w in waves(points, built=4)] == [4]
    # Only data and base: the prunes still wait for the first to build the recovery stage
    # their quantizers share.
    grid = make_points(expand(["prune.channel_ratio=0.25,0.5", "quantize=gptq,rtn"]))
    assert [len(w) for w in waves(grid, built=2)] == [2, 2]
    assert [len(w) for w in waves(grid, built=0)] == [1, 2, 1]


def test_grid_file(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("grid:\n  prune.channel_ratio: [0.25, 0.5]\n  quantize: [gptq, rtn]\n"
                    "  recover.steps: 8\njobs: 3\n")
    overrides, defaults = load_grid_file(path)
    assert overrides == ["prune.channel_ratio=0.25,0.5", "quantize=gptq,rtn", "recover.steps=8"]
    assert defaults == {"jobs": 3}
    assert len(expand(overrides)) == 4
    path.write_text("grdi: {}\n")
    with pytest.raises(SlimlineError, match="unknown keys"):
        load_grid_file(path)


def test_shipped_sweep_file_is_the_issue_grid():
    from tests.conftest import REPO

    overrides, defaults = load_grid_file(REPO / "conf" / "sweep" / "channels.yaml")
    assert len(expand(overrides)) == 6 and defaults == {"jobs": 2}
