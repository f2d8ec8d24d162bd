"""The results files: what the evaluation writes is what the report and registry read."""

import json

from slimline.checkpoint import SIZE_DIRECTIONS, parameter_stats
from slimline.lineage.metadata import ArtifactMetadata
from slimline.results import (
    KNOWN_DIRECTIONS,
    evals_file,
    flatten,
    flatten_directions,
    metrics_file,
    read_stage_results,
    write_metrics,
)


def test_metrics_written_for_a_stage_are_read_back_flat_with_its_size(tmp_path):
    model = ArtifactMetadata(stage="pruned", digest="d" * 64, parent_digest=None, params={},
                             metrics={"num_parameters": 10, "size_bytes": 40, "x_seconds": 1})
    (tmp_path / "metrics").mkdir()
    row = write_metrics(metrics_file(tmp_path, "pruned"),
                        metrics={"ppl": {"word_perplexity": 12.3456789}}, model=model)
    assert row == {"ppl": {"word_perplexity": 12.345679},
                   "size": {"num_parameters": 10, "size_bytes": 40}}
    assert read_stage_results(tmp_path, "recovered") is None  # not evaluated
    flat, evaluation = read_stage_results(tmp_path, "pruned")
    assert flat == {"ppl.word_perplexity": 12.345679, "size.num_parameters": 10.0,
                    "size.size_bytes": 40.0}
    assert evaluation == {}  # no evals/pruned.json
    evals_file(tmp_path, "pruned").parent.mkdir()
    evals_file(tmp_path, "pruned").write_text(json.dumps(
        {"higher_is_better": {"ppl": {"word_perplexity": False}}}))
    _, evaluation = read_stage_results(tmp_path, "pruned")
    assert flatten_directions(evaluation["higher_is_better"]) == {"ppl.word_perplexity": False}


def test_size_directions_are_those_of_what_parameter_stats_measures(tmp_path):
    assert set(parameter_stats(tmp_path)) == set(SIZE_DIRECTIONS)
    assert KNOWN_DIRECTIONS == {"size.num_parameters": False, "size.size_bytes": False}


def test_flatten_keeps_numbers_only():
    assert flatten({"a": {"b": 1, "c": True, "d": "x"}, "e": 2.5}) == {"a.b": 1.0, "e": 2.5}
