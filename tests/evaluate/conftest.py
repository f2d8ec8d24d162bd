"""Models that differ in what they know, and a data directory shaped like the data stage's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

NUM_FACTS = 24


@pytest.fixture(scope="session")
def eval_data(tmp_path_factory) -> Path:
    """evaluation.jsonl (40 held-out documents) and facts.jsonl (24 fact probes) + manifest."""
    from slimline.config import DataConfig
    from slimline.data import build_splits

    out = tmp_path_factory.mktemp("evaldata") / "data"
    build_splits(DataConfig(calibration={"num_docs": 4}, recovery={"num_docs": 4},
                            evaluation={"num_docs": 40}), out)
    facts = (out / "facts.jsonl").read_text().splitlines()[:NUM_FACTS]
    (out / "facts.jsonl").write_text("\n".join(facts) + "\n")
    return out


@pytest.fixture(scope="session")
def fact_model(tmp_path_factory, trained_checkpoint, eval_data) -> Path:
    """The tiny trained model taught the 24 probe facts (prompt + answer + ".") by heart."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(trained_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(trained_checkpoint)
    rows = [json.loads(line) for line in (eval_data / "facts.jsonl").read_text().splitlines()]
    ids = [tok(f"{r['prompt']} {r['answer']}.")["input_ids"] + [tok.eos_token_id]
           for r in rows]
    width = max(map(len, ids))
    pad = tok.eos_token_id
    batch = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    labels = torch.tensor([x + [-100] * (width - len(x)) for x in ids])
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(150):
        loss = model(input_ids=batch, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = tmp_path_factory.mktemp("factmodel") / "model"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def random_model(tmp_path_factory, trained_checkpoint) -> Path:
    """The same architecture and tokenizer, freshly initialised."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(trained_checkpoint))
    out = tmp_path_factory.mktemp("randommodel") / "model"
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(trained_checkpoint).save_pretrained(out)
    return out
