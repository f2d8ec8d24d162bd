import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from slimline.data.corpus import build_corpus
from slimline.errors import SlimlineError
from slimline.evaluate.perplexity import checkpoint_perplexity, perplexity


class _Uniform(torch.nn.Module):
    """A model that predicts every token with equal probability."""

    def __init__(self, vocab: int):
        super().__init__()
        self.vocab = vocab
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids):
        logits = torch.zeros(*input_ids.shape, self.vocab)
        return type("Out", (), {"logits": logits})()


def test_uniform_model_has_perplexity_of_vocab_size(trained_checkpoint):
    tok = AutoTokenizer.from_pretrained(trained_checkpoint)
    texts = build_corpus().heldout[:20]
    result = perplexity(_Uniform(len(tok)), tok, texts, seq_len=32, batch_size=4)
    assert result["perplexity"] == pytest.approx(len(tok), rel=1e-4)
    assert result["nll"] == pytest.approx(math.log(len(tok)), rel=1e-6)


def test_trained_model_beats_its_random_initialisation(trained_checkpoint):
    texts = list(build_corpus().heldout[:40])
    tok = AutoTokenizer.from_pretrained(trained_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(trained_checkpoint)
    torch.manual_seed(0)
    random_model = type(model)(model.config)
    trained = perplexity(model, tok, texts, seq_len=64, batch_size=4)
    random = perplexity(random_model, tok, texts, seq_len=64, batch_size=4)
    assert trained["perplexity"] < random["perplexity"] / 3
    assert 0 < trained["bits_per_byte"] < random["bits_per_byte"]
    assert checkpoint_perplexity(trained_checkpoint, texts, seq_len=64) == pytest.approx(
        trained["perplexity"], rel=1e-4)


def test_max_tokens_limits_scoring(trained_checkpoint):
    texts = list(build_corpus().heldout[:40])
    tok = AutoTokenizer.from_pretrained(trained_checkpoint)
    model = AutoModelForCausalLM.from_pretrained(trained_checkpoint)
    full = perplexity(model, tok, texts, seq_len=32, batch_size=8)
    part = perplexity(model, tok, texts, seq_len=32, batch_size=8, max_tokens=320)
    assert part["eval_tokens"] == 10 * 31 < full["eval_tokens"]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(SlimlineError, match="no config.json"):
        checkpoint_perplexity(tmp_path, ["x"])
