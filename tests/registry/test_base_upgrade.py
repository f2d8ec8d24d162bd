"""A base upgrade stays in one registered model (issue 19, item 5): every version names its
base, gates compare with the candidate's own base or on request with production, and
bisect blames the base when the bases differ."""

import pytest
from mlflow.tracking import MlflowClient

from slimline.cli.main import main
from slimline.config import compose
from slimline.errors import SlimlineError
from slimline.registry import register_pipeline, resolve
from slimline.registry.bisect import bisect, render
from slimline.registry.promote import GateFailure, promote

from ..conftest import REPO

GATES = {"task.ppl": 0.9, "task.acc": 0.95}
NEW_BASE = {"name": "other", "kind": "hf", "source": "/models/other"}
# The new base is weaker than the old production model; its lineage keeps its own quality.
UPGRADE = {"base": (3.0, 0.70), "pruned": (3.2, 0.68), "recovered": (3.02, 0.70),
           "quantized": (3.05, 0.69)}


@pytest.fixture
def upgraded(project):
    """v1-v4 from base `t` with v4 @production, then v5-v8 from base `other`."""
    old = project.pipeline()
    register_pipeline(project.root, "demo", "slimline")
    promote(resolve("demo@candidate"), "production", GATES)
    new = project.pipeline(UPGRADE, base=NEW_BASE)
    register_pipeline(project.root, "demo", "slimline")
    return old, new


def test_the_default_name_does_not_follow_the_base():
    for name in ("tiny-llama", "llama3-8b"):
        values = compose([f"model.name={name}"], REPO / "conf")
        assert values["registry"]["model_name"] == "slimline"


def test_every_version_carries_its_bases_fingerprint(upgraded):
    old, new = upgraded
    assert [m.name for m in MlflowClient().search_registered_models()] == ["demo"]
    for number, digest, name, source in (("1", old["base"], "t", "unknown"),
                                         ("4", old["base"], "t", "unknown"),
                                         ("5", new["base"], "other", "/models/other"),
                                         ("8", new["base"], "other", "/models/other")):
        v = resolve(f"demo/{number}")
        assert v.tags["slimline.base_digest"] == digest == v.base_digest, number
        assert (v.tags["slimline.base_name"], v.tags["slimline.base_source"]) == (name, source)
    assert resolve("demo@candidate").version == "8"
    assert resolve("demo@production").version == "4"  # still in the same model
    description = MlflowClient().get_model_version("demo", "8").description
    assert "Base: other from /models/other" in description


def test_gates_use_the_own_base_by_default_and_production_on_request(upgraded, capsys):
    candidate = resolve("demo@candidate")
    with pytest.raises(GateFailure) as refused:
        promote(candidate, "production", GATES, against="production")
    message = str(refused.value)
    assert "against @production quantized v4 (its base: base v1 (t, sha256" in message
    assert "@production v4" in message.splitlines()[1]  # the table's compared-with column
    assert {r.metric for r in refused.value.results if not r.passed} == {"task.ppl",
                                                                         "task.acc"}
    assert resolve("demo@production").version == "4"
    event, results = promote(candidate, "staging", GATES)  # its own base: v5
    assert all(r.passed for r in results)
    assert event.compared_with.startswith("base v5 (other, sha256 ")
    with pytest.raises(SystemExit) as exit_code:
        main(["promote", "@candidate", "--against", "production"])
    assert exit_code.value.code == 1
    assert "against @production quantized v4" in capsys.readouterr().err
    with pytest.raises(SlimlineError, match="--against canary: demo has no alias @canary"):
        promote(candidate, "production", GATES, against="canary")


def test_bisect_across_a_base_upgrade_names_both_bases(upgraded):
    old, new = upgraded
    result = bisect(resolve("demo@production"), resolve("demo@candidate"), tolerance=0.5)
    assert result.culprit.stage == "base" and result.bases_differ
    assert result.culprit.inputs[0] == (f"base digest differs: {old['base'][:12]} (t) → "
                                        f"{new['base'][:12]} (other)")
    text = render(result, 0.5)
    assert text.splitlines()[0] == (f"good: base v1 (t, sha256 {old['base'][:12]}…) ; "
                                    f"bad: base v5 (other, sha256 {new['base'][:12]}…)")
    assert "culprit: the base stage (base v1 → base v5)" in text
    same_base = bisect(resolve("demo/3"), resolve("demo/4"))
    assert not same_base.bases_differ
