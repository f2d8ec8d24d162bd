"""A user's golden prompt file becomes an lm-eval task, no YAML to write.

Rows are `{"prompt", "answer"}` (the greedy completion up to a stop string must equal the
answer, ignoring case and punctuation) or `{"prompt", "choices", "answer"}` (the answer must
be one of the choices; scored by log-likelihood, `acc`). One file holds one kind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slimline.config import GoldenSuite
from slimline.errors import SlimlineError

FORMAT = ('each line a JSON object {"prompt": ..., "answer": ...} or '
          '{"prompt": ..., "choices": [...], "answer": ...}')


def task_name(suite: GoldenSuite) -> str:
    return suite.task


def read_golden(path: Path) -> list[dict[str, Any]]:
    """Validated rows of a golden file, each with prompt, answer and (for choices) gold."""
    if not path.is_file():
        raise SlimlineError(f"golden suite {path} does not exist: fix eval.golden in conf/eval/ "
                            "(relative paths are relative to the project root).")
    rows: list[dict[str, Any]] = []
    kinds = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SlimlineError(f"{where} is not JSON ({exc.msg}); expected {FORMAT}.") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) \
                or not isinstance(row.get("answer"), str) or not row["answer"].strip():
            raise SlimlineError(f"{where} needs a string prompt and a non-empty string answer; "
                                f"expected {FORMAT}.")
        out = {"prompt": row["prompt"], "answer": row["answer"]}
        if "choices" in row:
            choices = row["choices"]
            if not isinstance(choices, list) or len(choices) < 2 \
                    or not all(isinstance(c, str) for c in choices):
                raise SlimlineError(f"{where}: choices must be a list of at least two strings.")
            if row["answer"] not in choices:
                raise SlimlineError(f"{where}: the answer {row['answer']!r} is not one of its "
                                    "choices.")
            out["choices"] = choices
            out["gold"] = choices.index(row["answer"])
        kinds.add("choices" in out)
        rows.append(out)
    if not rows:
        raise SlimlineError(f"golden suite {path} has no rows; expected {FORMAT}.")
    if len(kinds) > 1:
        raise SlimlineError(f"golden suite {path} mixes rows with and without choices; put "
                            "multiple-choice and exact-match prompts in separate files.")
    return rows


def golden_task(suite: GoldenSuite, rows: list[dict[str, Any]], data_file: Path) -> dict:
    """The lm-eval task config for validated `rows` stored (normalised) at `data_file`."""
    config: dict[str, Any] = {
        "task": task_name(suite),
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "doc_to_text": "prompt",
        "target_delimiter": " ",
        "metadata": {"version": 1.0, "source": suite.path},
    }
    if "choices" in rows[0]:
        config.update(output_type="multiple_choice", doc_to_choice="choices",
                      doc_to_target="gold",
                      metric_list=[{"metric": "acc", "aggregation": "mean",
                                    "higher_is_better": True}])
    else:
        config.update(
            output_type="generate_until", doc_to_target="answer",
            generation_kwargs={"until": list(suite.stop), "max_gen_toks": suite.max_gen_toks,
                               "do_sample": False},
            filter_list=[{"name": "stripped", "filter": [
                {"function": "regex", "regex_pattern": r"^\s*(.*?)\s*$"},
                {"function": "take_first"}]}],
            metric_list=[{"metric": "exact_match", "aggregation": "mean",
                          "higher_is_better": True, "ignore_case": True,
                          "ignore_punctuation": True}])
    return config
