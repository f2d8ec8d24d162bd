"""What can be known at composition fails there, naming the setting; roundings are noticed."""

import shutil

import pytest

from slimline.choices import compose_choices
from slimline.errors import SlimlineError

from .conftest import REPO

FILES = ["data=files", "data.calibration.path=d/c.jsonl", "data.recovery.path=d/r.jsonl",
         "data.evaluation.path=d/e.jsonl", "eval.tasks=[slimline_heldout]"]
NO_FACT_GATES = ["registry.gates.slimline_facts_mc=null", "registry.gates.slimline_facts_gen=null"]


@pytest.fixture
def project(tmp_path):
    shutil.copytree(REPO / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("choices"))
    (tmp_path / "d").mkdir()
    for name, n in (("c", 50), ("r", 2000), ("e", 20)):
        (tmp_path / "d" / f"{name}.jsonl").write_text(
            "".join(f'{{"text": "doc {i}"}}\n' for i in range(n)))
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "bad.jsonl").write_text('{"prompt": "q"}\n')
    (tmp_path / "elsewhere.jsonl").write_text('{"prompt": "q", "answer": "a"}\n')
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{not json")
    return tmp_path


@pytest.mark.parametrize("overrides, message", [
    (["data.recovery.num_docs=9000"], "exceeds the 8703 training documents"),
    (["data.evaluation.num_docs=1000"], "exceeds the 458 held-out documents"),
    ([*FILES, *NO_FACT_GATES, "data.calibration.num_docs=10", "data.recovery.num_docs=4096"],
     "data.recovery.num_docs=4096 but d/r.jsonl holds 2000 documents"),
    ([*FILES, *NO_FACT_GATES, "data.calibration.num_docs=256"],
     "data.calibration.num_docs=256 but d/c.jsonl holds 50 documents"),
    ([*FILES[:-1], "data.calibration.num_docs=10"], "need the built-in corpus's fact probes"),
    ([*FILES, "data.calibration.num_docs=10"],
     "registry.gates has gates on slimline_facts_gen, slimline_facts_mc, which the suite "
     "does not evaluate"),
    (["eval.golden=[elsewhere.jsonl]"], "elsewhere.jsonl is outside golden/"),
    (["eval.golden=[golden/bad.jsonl]"], r"bad.jsonl:1 needs a string prompt"),
    (["model=hf", "model.name=x", "model.source=/no/such/dir"], "does not exist"),
    (["model=hf", "model.name=x", "model.source=ckpt"], "config.json is not JSON"),
    (["model=hf", "model.name=x", "model.source=org/name"], "DVC watches only local files"),
    (["model.max_position_embeddings=64", "model.train.seq_len=64", "eval.speed.new_tokens=8",
      "eval.speed.prompt_tokens=16"],
     r"report.speed.prompt_tokens \+ report.speed.new_tokens = 96 exceeds the base's "
     r"max_position_embeddings \(64\)"),
    (["model=hf", "model.name=x", "model.source=ckpt", "model.deps=other"],
     "deps is derived from model.source"),
])
def test_compose_refuses_what_cannot_work(project, overrides, message):
    with pytest.raises(SlimlineError, match=message):
        compose_choices(overrides, project / "conf", project)
    assert not (project / "conf" / "choices").exists()


def test_a_rounded_ratio_is_noticed(project):
    _, notices = compose_choices(["prune.channel_ratio=0.3"], project / "conf", project)
    assert notices == ["prune.channel_ratio=0.3 removes 128 of 512 MLP channels (25.0%): "
                       "widths are rounded to multiples of prune.round_to=128."]
    _, notices = compose_choices(["prune.channel_ratio=0.25"], project / "conf", project)
    assert notices == []


def test_user_files_and_the_local_base_are_what_dvc_watches(project, trained_checkpoint):
    values, _ = compose_choices([*FILES, *NO_FACT_GATES, "data.calibration.num_docs=10",
                                 "model=hf",
                                 "model.name=mine", f"model.source={trained_checkpoint}",
                                 "prune.round_to=32", "quantize.group_size=32",
                                 "eval.speed.prompt_tokens=16",
                                 "report.speed.prompt_tokens=16"],
                                project / "conf", project)
    assert values["data"]["deps"] == {"calibration": "d/c.jsonl", "recovery": "d/r.jsonl",
                                      "evaluation": "d/e.jsonl"}
    assert values["model"]["deps"] == str(trained_checkpoint)


def test_a_rounded_head_share_is_noticed(project):
    # 2 kv groups of 2 query heads: removing a third of each group's heads removes one of two.
    _, notices = compose_choices(["prune.head_ratio=0.34", "prune.round_to=32",
                                  "quantize.group_size=32"],
                                 project / "conf", project)
    assert notices == ["prune.head_ratio=0.34 removes 1 of 2 query heads per kv group (50.0%): "
                       "head counts are whole numbers."]


@pytest.mark.parametrize("method, quantize", [("depth", "gptq"), ("sparse24", "rtn"),
                                              ("sparse24", "fp8")])
def test_prune_methods_without_ratios_compose(project, method, quantize):
    """Only the structured prune has ratios to round and a plan to check."""
    values, notices = compose_choices([f"prune={method}", f"quantize={quantize}"],
                                      project / "conf", project)
    assert values["prune"]["method"] == method and notices == []


@pytest.mark.parametrize("quantize", ["gptq", "w8a8"])
def test_a_quantizer_that_fills_the_2_4_zeros_is_noticed(project, quantize):
    _, notices = compose_choices(["prune=sparse24", f"quantize={quantize}"], project / "conf",
                                 project)
    assert notices == [f"prune=sparse24 then quantize={quantize}: {quantize} fills some of the "
                       "2:4 zeros (llm-compressor has no mask option), so the quantized model "
                       "is no longer 2:4; quantize=rtn or quantize=fp8 keeps them."]
