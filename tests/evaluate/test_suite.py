"""The built-in lm-eval tasks and golden suites, offline, on tiny models."""

import json
import socket

import pytest
import yaml

from slimline.config import EvalConfig, GoldenSuite, parse_section
from slimline.errors import SlimlineError
from slimline.evaluate import evaluate_checkpoint
from slimline.evaluate.suite import flatten_results, materialise_tasks

FAST = {"seq_len": 64, "batch_size": 8, "speed": {"prompt_tokens": 16, "new_tokens": 8,
                                                    "repeats": 1}}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("the evaluation tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def scores(trained_checkpoint, fact_model, random_model, eval_data, tmp_path_factory):
    """Each built-in task on three models (module-scoped: one lm-eval run per model)."""
    cfg = EvalConfig(**FAST)
    root = tmp_path_factory.mktemp("root")
    return {name: evaluate_checkpoint(path, eval_data, cfg, root)
            for name, path in [("trained", trained_checkpoint), ("facts", fact_model),
                               ("random", random_model)]}


def test_builtin_tasks_run_offline(no_network, fact_model, eval_data, tmp_path):
    result = evaluate_checkpoint(fact_model, eval_data, EvalConfig(**FAST, limit=4), tmp_path)
    assert set(result.metrics) == {"slimline_heldout", "slimline_facts_mc",
                                   "slimline_facts_gen", "speed"}
    assert result.lm_eval["n-samples"]["slimline_facts_mc"]["effective"] == 4


def test_heldout_perplexity_responds_to_training(scores):
    trained = scores["trained"].metrics["slimline_heldout"]
    random = scores["random"].metrics["slimline_heldout"]
    assert trained["word_perplexity"] < random["word_perplexity"] / 3
    assert 0 < trained["bits_per_byte"] < random["bits_per_byte"]
    assert 1 < trained["byte_perplexity"] < random["byte_perplexity"]


def test_fact_tasks_respond_to_what_the_model_knows(scores):
    knows = scores["facts"].metrics
    random = scores["random"].metrics
    assert knows["slimline_facts_mc"]["acc"] >= 0.75 > random["slimline_facts_mc"]["acc"] + 0.3
    assert knows["slimline_facts_gen"]["exact_match"] >= 0.5
    assert random["slimline_facts_gen"]["exact_match"] == 0.0


def test_results_carry_directions_speed_and_device(scores):
    result = scores["trained"]
    assert result.higher_is_better["slimline_heldout"]["word_perplexity"] is False
    assert result.higher_is_better["slimline_facts_mc"]["acc"] is True
    assert result.metrics["speed"]["prefill_tokens_per_s"] > 0
    assert result.metrics["speed"]["decode_tokens_per_s"] > 0
    assert result.device.startswith("cpu: ")
    assert result.flat()["slimline_facts_mc.acc"] == result.metrics["slimline_facts_mc"]["acc"]
    assert result.lm_eval["versions"]["slimline_heldout"] == 1.0


def test_golden_suites_become_tasks(fact_model, eval_data, tmp_path):
    facts = [json.loads(x) for x in (eval_data / "facts.jsonl").read_text().splitlines()]
    (tmp_path / "em.jsonl").write_text("".join(
        json.dumps({"prompt": f["prompt"], "answer": f["answer"]}) + "\n" for f in facts[:8]))
    (tmp_path / "mc.jsonl").write_text("".join(
        json.dumps({"prompt": f["prompt"], "choices": f["choices"], "answer": f["answer"]})
        + "\n" for f in facts[:8]))
    cfg = parse_section(EvalConfig, {**FAST, "tasks": [], "speed": None, "golden": [
        {"path": "em.jsonl", "stop": ["."], "max_gen_toks": 8}, "mc.jsonl"]}, "eval")
    result = evaluate_checkpoint(fact_model, eval_data, cfg, tmp_path)
    assert set(result.metrics) == {"golden_em", "golden_mc"}
    assert result.metrics["golden_mc"]["acc"] >= 0.75
    assert result.metrics["golden_em"]["exact_match"] >= 0.5
    assert [i.kind for i in result.inputs] == ["golden", "golden"]


@pytest.mark.parametrize(("rows", "message"), [
    (["not json"], "is not JSON"),
    ([{"prompt": "p"}], "non-empty string answer"),
    ([{"prompt": "p", "answer": "a", "choices": ["b", "c"]}], "is not one of its choices"),
    ([{"prompt": "p", "answer": "a", "choices": "a"}], "list of at least two"),
    ([{"prompt": "p", "answer": "a"}, {"prompt": "p", "answer": "a", "choices": ["a", "b"]}],
     "mixes rows"),
    ([], "has no rows"),
])
def test_bad_golden_files_name_the_line(tmp_path, rows, message):
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    (tmp_path / "g.jsonl").write_text("\n".join(lines) + "\n")
    cfg = EvalConfig(tasks=[], golden=[GoldenSuite(path="g.jsonl")])
    with pytest.raises(SlimlineError, match=message):
        materialise_tasks(cfg, tmp_path, tmp_path, tmp_path / "out")


def test_missing_golden_file_and_unknown_task(fact_model, eval_data, tmp_path):
    with pytest.raises(SlimlineError, match="does not exist"):
        materialise_tasks(EvalConfig(golden=[GoldenSuite(path="nope.jsonl")]), eval_data,
                          tmp_path, tmp_path)
    with pytest.raises(SlimlineError, match="unknown eval task"):
        evaluate_checkpoint(fact_model, eval_data, EvalConfig(**FAST, tasks=["no_such_task"]),
                            tmp_path)


def test_builtin_data_paths_resolve_wherever_the_data_is(eval_data, tmp_path):
    task_dir = materialise_tasks(EvalConfig(), eval_data, tmp_path, tmp_path)
    config = yaml.safe_load((task_dir.path / "slimline_heldout.yaml").read_text())
    assert config["dataset_kwargs"]["data_files"]["test"] == str(eval_data / "evaluation.jsonl")
    assert {(i.task, i.path.name) for i in task_dir.inputs} == {
        ("slimline_heldout", "evaluation.jsonl"), ("slimline_facts_mc", "facts.jsonl"),
        ("slimline_facts_gen", "facts.jsonl")}


def test_fact_tasks_need_the_builtin_corpus(tmp_path):
    (tmp_path / "evaluation.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(SlimlineError, match="only for the built-in corpus"):
        materialise_tasks(EvalConfig(), tmp_path, tmp_path, tmp_path / "out")


def test_flatten_results_keeps_filters_apart_and_drops_stderr():
    results = {"results": {"t": {"alias": "t", "acc,none": 0.5, "acc_stderr,none": 0.1,
                                 "exact_match,a": 0.2, "exact_match,b": 0.3,
                                 "word_perplexity,none": "N/A"}},
               "higher_is_better": {"t": {"acc": True, "exact_match": True}}}
    values, better = flatten_results(results)
    assert values == {"t": {"acc": 0.5, "exact_match_a": 0.2, "exact_match_b": 0.3}}
    assert better == {"t": {"acc": True, "exact_match_a": True, "exact_match_b": True}}


def test_lm_eval_registry_tasks_pass_through_and_fail_clearly_offline(
        no_network, fact_model, eval_data, tmp_path):
    cfg = EvalConfig(**FAST, tasks=["slimline_facts_mc", "arc_easy"])
    with pytest.raises(SlimlineError, match="eval task arc_easy could not be loaded.*hub"):
        evaluate_checkpoint(fact_model, eval_data, cfg, tmp_path)
