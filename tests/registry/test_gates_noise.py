"""Gates and bisect weigh a difference against the evaluations' noise (lm-eval's stderr,
recorded at registration); `slimline lineage` shows speed only from one measurement."""

import json
import math

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.errors import SlimlineError
from slimline.evaluate.suite import flatten_results, flatten_stderrs
from slimline.registry import register_pipeline, resolve
from slimline.registry.bisect import bisect, render
from slimline.registry.gates import GateResult, check_gates, gate_table
from slimline.registry.versions import VersionInfo
from tests.registry.conftest import ACC_STDERR

GATES = {"task.ppl": 0.9, "task.acc": 0.95}


def _register(project):
    return register_pipeline(project.root, "demo", "slimline")


def _version(acc: float, acc_stderr: float | None, ppl: float = 2.0) -> VersionInfo:
    return VersionInfo("demo", "1", "quantized", "d" * 64, None, None,
                       metrics={"task.acc": acc, "task.ppl": ppl},
                       stderrs={} if acc_stderr is None else {"task.acc": acc_stderr},
                       directions={"task.acc": True, "task.ppl": False})


def test_stderrs_are_named_as_their_metrics_and_na_is_none():
    results = {"results": {"t": {"acc,none": 0.5, "acc_stderr,none": 0.1,
                                 "exact_match,a": 0.2, "exact_match_stderr,a": 0.02,
                                 "exact_match,b": 0.3, "exact_match_stderr,b": 0.03,
                                 "word_perplexity,none": 2.5,
                                 "word_perplexity_stderr,none": "N/A",
                                 "f1,none": float("nan"), "f1_stderr,none": 0.1}}}
    assert flatten_stderrs(results) == {
        "t": {"acc": 0.1, "exact_match_a": 0.02, "exact_match_b": 0.03}}
    values, _ = flatten_results(results)
    assert set(flatten_stderrs(results)["t"]) <= set(values["t"])


def test_registration_records_each_metrics_stderr(project):
    project.pipeline(stderrs={"base": 0.0123})
    registered = _register(project)
    base, quantized = registered[0].version, registered[-1].version
    assert base.stderrs == {"task.acc": 0.0123}  # none for ppl (N/A) or speed
    assert quantized.stderrs == {"task.acc": ACC_STDERR}
    tags = MlflowClient().get_model_version("demo", base.version).tags
    assert tags["eval_stderr.task.acc"] == "0.0123"
    assert not [k for k in tags if k.startswith("eval_stderr.") and "ppl" in k]


def test_a_gate_failure_says_whether_it_is_beyond_noise():
    base = _version(0.90, 0.02)
    within = check_gates(_version(0.85, 0.02), base, {"task.acc": 0.95})[0]
    assert not within.passed and within.noise == pytest.approx(math.sqrt(2) * 0.02)
    assert within.beyond_noise is False
    table = gate_table([within])
    assert "FAIL within noise (Δ -0.05 ≤ 2σ 0.0566): keeps 94.4% < 95%" in table
    assert "task.acc: the difference is within 2 standard errors" in table
    assert "--force --reason" in table

    beyond = check_gates(_version(0.80, 0.005), _version(0.90, 0.005), {"task.acc": 0.95})[0]
    assert not beyond.passed and beyond.beyond_noise is True
    table = gate_table([beyond])
    assert "FAIL beyond noise (Δ -0.1 > 2σ 0.0141): keeps 88.9% < 95%" in table
    assert "within" not in table
    assert beyond.reason == "keeps 88.9% < 95%, beyond noise (Δ -0.1 > 2σ 0.0141)"

    # One side without a stderr (perplexity, or a version registered before stderrs were):
    # the failure is stated as before, with no claim about noise.
    unknown = check_gates(_version(0.80, None), base, {"task.acc": 0.95, "task.ppl": 0.9})
    assert [r.beyond_noise for r in unknown] == [None, None]
    assert "FAIL: keeps 88.9% < 95%" in gate_table(unknown) and "noise" not in \
        gate_table(unknown)
    # A pass is a pass; noise says nothing about it.
    assert gate_table([GateResult("task.acc", 0.9, 0.9, 0.9, 1.0, 0.01)]).endswith("pass")


def test_promote_refuses_a_within_noise_failure_and_says_so(project, capsys):
    # acc 0.90 → 0.85 keeps 94.4% < 95%, but Δ -0.05 is within 2σ = 2·√(0.02² + 0.02²)
    # = 0.0566 of the two evaluations: still refused (the gate is the user's threshold),
    # with the reason --force would be defensible.
    project.pipeline({"recovered": (2.0, 0.85), "quantized": (2.0, 0.85)},
                     stderrs={"base": 0.02, "recovered": 0.02, "quantized": 0.02})
    _register(project)
    with pytest.raises(SystemExit) as refused:
        main(["promote", "@candidate"])
    assert refused.value.code == 1
    err = capsys.readouterr().err
    assert "FAIL within noise (Δ -0.05 ≤ 2σ 0.0566): keeps 94.4% < 95%" in err
    assert "The gate still fails" in err
    with pytest.raises(SlimlineError, match="has no alias @production"):
        resolve("demo@production")
    main(["promote", "@candidate", "--force", "--reason", "within noise"])
    assert "FORCED" in capsys.readouterr().out


@pytest.mark.parametrize(("stderr", "culprit"), [(ACC_STDERR, None), (0.002, "recovered")])
def test_bisect_tolerance_is_the_noise_where_a_stderr_is_recorded(project, stderr, culprit):
    # acc 0.89 → 0.875 at recovered: -1.7%, beyond the old 1% default. With stderr 0.01 the
    # Δ 0.015 is within 2σ = 2·√2·0.01 = 0.028: not a culprit; measured more precisely
    # (stderr 0.002: 2σ 0.0057) the same move is beyond noise.
    stderrs = dict.fromkeys(("base", "pruned", "recovered", "quantized"), stderr)
    project.pipeline(stderrs=stderrs)
    _register(project)
    good = resolve("demo@candidate")
    project.pipeline({"recovered": (2.1, 0.875), "quantized": (2.12, 0.865)}, lr=3e-4,
                     stderrs=stderrs)
    _register(project)
    bad = resolve("demo@candidate")
    result = bisect(good, bad)
    recovered = result.stages[2]
    assert recovered.noise == {"task.acc": pytest.approx(math.sqrt(2) * stderr)}
    text = render(result)
    assert "diverging (> 2σ of lm-eval's stderr where recorded, else > 1.0%)" in text
    if culprit is None:
        assert result.culprit is None and recovered.diverged == []
        assert "no stage diverges beyond the tolerance or the evaluations' noise" in text
    else:
        assert result.culprit.stage == culprit and result.culprit.diverged == ["task.acc"]
        assert "param recover.lr: 0.0002 → 0.0003" in result.culprit.inputs
        assert "task.acc -1.7% (Δ -0.015 > 2σ 0.00566)" in text
    # An explicit tolerance replaces the noise for every metric.
    explicit = bisect(good, bad, tolerance=0.01)
    assert explicit.culprit.stage == "recovered" and explicit.culprit.diverged == ["task.acc"]
    assert "diverging (> 1.0%)" in render(explicit)
    assert bisect(good, bad, tolerance=0.05).culprit is None


def test_bisect_falls_back_to_one_percent_without_a_stderr(project):
    project.pipeline(stderrs={"recovered": None, "quantized": None})
    _register(project)
    good = resolve("demo@candidate")
    # acc -1.7% (no stderr on either side: 1%) and ppl +0.5% (no stderr anywhere: 1%).
    project.pipeline({"recovered": (2.11, 0.875), "quantized": (2.12, 0.865)}, lr=3e-4,
                     stderrs={"recovered": None, "quantized": None})
    _register(project)
    result = bisect(good, resolve("demo@candidate"))
    assert result.culprit.stage == "recovered" and result.culprit.diverged == ["task.acc"]
    assert result.culprit.noise == {}
    assert result.culprit.changes["task.ppl"][2] == pytest.approx(0.01 / 2.1)


def test_lineage_shows_speed_only_from_the_side_by_side_measurement(project, capsys):
    digests = project.pipeline()
    for stage, decode in (("base", 100.0), ("pruned", 7197.0)):
        doc = json.loads((project.root / "metrics" / f"{stage}.json").read_text())
        doc["speed"] = {"decode_tokens_per_s": decode}
        (project.root / "metrics" / f"{stage}.json").write_text(json.dumps(doc))
    _register(project)
    assert resolve("demo@pruned").metrics["speed.decode_tokens_per_s"] == 7197.0
    main(["lineage", "@candidate"])
    out = capsys.readouterr().out
    assert "| task.acc |" in out and "| speed." not in out and "7,197" not in out
    assert "No side-by-side measurement (metrics/speed.json)" in out

    def measurement(measured: dict[str, str]) -> None:
        rows = {s: {"digest": d, "prefill_tokens_per_s": 1000.0 * (i + 1),
                    "decode_tokens_per_s": 100.0 * (i + 1), "prefill_vs_base": i + 1.0,
                    "decode_vs_base": i + 1.0} for i, (s, d) in enumerate(measured.items())}
        doc = {"measurement": {"device": "cpu: test", "runtime": "transformers on cpu",
                               "started": "t0", "finished": "t1", "base": "base",
                               "rounds": 3, "repeats": 5, "prompt_tokens": 64,
                               "new_tokens": 32, "batch_size": 1}, "stages": rows}
        (project.root / "metrics" / "speed.json").write_text(json.dumps(doc))

    measurement(digests)
    main(["lineage", "@candidate"])
    out = capsys.readouterr().out
    assert "## Speed, one side-by-side measurement" in out
    assert "| pruned | 2,000 | 2.00 | 200.0 | 2.00 |" in out
    # A measurement of other weights than a version's is not shown against it.
    measurement({**digests, "pruned": "e" * 64})
    main(["lineage", "@candidate"])
    out = capsys.readouterr().out
    assert "| pruned | 2,000" not in out and "Not shown: pruned" in out
    assert "| recovered | 3,000 | 3.00 |" in out
