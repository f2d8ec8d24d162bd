"""The `eval` section: the lm-eval suite every model stage is scored on."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from slimline.config._section import _Section

BUILTIN_TASKS = ("slimline_heldout", "slimline_facts_mc", "slimline_facts_gen")
# Built-in tasks that read the fact probes only the built-in corpus has.
FACT_TASKS = ("slimline_facts_mc", "slimline_facts_gen")


class GoldenSuite(_Section):
    """A user's golden prompts: a JSONL file of {"prompt", "answer"} (scored by exact match of
    the greedy completion) or {"prompt", "choices", "answer"} (multiple choice) rows."""

    path: str = Field(description="JSONL file; relative paths are relative to the project.")
    name: str | None = Field(None, description="Task name (default: golden_<file stem>).")
    stop: list[str] = Field(["\n"], min_length=1,
                            description="Generation stops at the first of these strings.")
    max_gen_toks: int = Field(32, gt=0, description="Most tokens generated per prompt.")

    @property
    def task(self) -> str:
        """The lm-eval task this suite becomes: `name`, or golden_<file stem>."""
        if self.name:
            return self.name
        stem = re.sub(r"[^0-9A-Za-z_]+", "_", Path(self.path).stem).strip("_").lower()
        return f"golden_{stem or 'suite'}"


class SpeedConfig(_Section):
    """Measured speed of the stage's model on the machine that evaluates it."""

    prompt_tokens: int = Field(64, gt=0, description="Prompt length for prefill.")
    new_tokens: int = Field(32, gt=0, description="Tokens decoded greedily after the prompt.")
    batch_size: int = Field(1, gt=0, description="Sequences per forward.")
    repeats: int = Field(3, gt=0, description="Timed repeats (the median is reported).")


class EvalConfig(_Section):
    """The evaluation suite run on every model stage (lm-eval harness).

    Example (conf/eval/default.yaml)::

        tasks: [slimline_heldout, slimline_facts_mc, slimline_facts_gen]
        golden: [golden/support.jsonl]
        limit: null
    """

    tasks: list[str] = Field(
        list(BUILTIN_TASKS), description="lm-eval task names: slimline's built-in tasks or "
        "any task of the lm-eval registry (those need the hub or a datasets cache).")
    golden: list[GoldenSuite] = Field(
        [], description="Golden prompt suites; each becomes an lm-eval task.")
    seq_len: int = Field(128, gt=1, description="Longest context the model is given "
                         "(lm-eval max_length).")
    batch_size: int = Field(16, gt=0)
    num_fewshot: int | None = Field(None, ge=0, description="Few-shot examples (null = each "
                                    "task's own default).")
    limit: int | None = Field(None, gt=0, description="Evaluate at most this many documents "
                              "per task (null = all).")
    seed: int = Field(1234, description="Seed for lm-eval's sampling, few-shot draws and the "
                      "speed prompt.")
    device: str = Field("auto", description="torch device: auto = cuda when present, else cpu.")
    backend: Literal["hf", "vllm"] = Field(
        "hf", description="lm-eval model: hf (transformers) or vllm (lm-eval's vllm model; "
        "needs `pip install 'slimline[gpu]'` on a CUDA machine).")
    speed: SpeedConfig | None = Field(SpeedConfig(), description="null = do not measure.")

    @model_validator(mode="before")
    @classmethod
    def _golden_paths(cls, values: Any) -> Any:
        # `golden: [file.jsonl]` is shorthand for `golden: [{path: file.jsonl}]`.
        if isinstance(values, dict) and isinstance(values.get("golden"), list):
            values = {**values, "golden": [{"path": g} if isinstance(g, str) else g
                                           for g in values["golden"]]}
        return values

    @model_validator(mode="after")
    def _unique(self) -> EvalConfig:
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError("tasks lists a task twice")
        return self
