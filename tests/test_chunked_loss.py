"""The chunked next-token loss equals transformers' own, value and gradient, for any chunk."""

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from slimline.chunked_loss import causal_lm_loss, chunk_rows, next_token_nll
from slimline.recover.losses import kd_loss

VOCAB = 512
# Chunks of 1, 7 and 16 tokens, and 51 tokens = the whole (3, 17) batch in one chunk.
CHUNKS = [4 * VOCAB * rows for rows in (1, 7, 16, 51)]


def _model(seed: int):
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=32)
    return AutoModelForCausalLM.from_config(cfg).train()


@pytest.fixture(scope="module")
def batch():
    return torch.randint(0, VOCAB, (3, 17), generator=torch.Generator().manual_seed(0))


def _grads(model) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_lm_loss_and_gradients_match_transformers(batch, chunk_bytes):
    model = _model(0)
    expected = model(input_ids=batch, labels=batch).loss
    expected.backward()
    reference = _grads(model)
    loss, kd = causal_lm_loss(model, batch, chunk_bytes=chunk_bytes)
    loss.backward()
    grads = _grads(model)
    assert kd is None
    assert chunk_rows(VOCAB, chunk_bytes) == chunk_bytes // (4 * VOCAB)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)
    assert grads.keys() == reference.keys()
    for name, g in grads.items():
        torch.testing.assert_close(g, reference[name], rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_distillation_loss_and_gradients_match_full_logits(batch, chunk_bytes):
    student, teacher = _model(0), _model(1).eval()
    out = student(input_ids=batch, labels=batch)
    with torch.no_grad():
        teacher_logits = teacher(input_ids=batch).logits
    expected_kd = kd_loss(out.logits, teacher_logits, 2.0)
    (expected_kd + out.loss).backward()
    reference = _grads(student)
    lm, kd = causal_lm_loss(student, batch, teacher=teacher, temperature=2.0,
                            chunk_bytes=chunk_bytes)
    (kd + lm).backward()
    grads = _grads(student)
    torch.testing.assert_close(lm, out.loss, rtol=0, atol=1e-5)
    torch.testing.assert_close(kd, expected_kd, rtol=0, atol=1e-5)
    assert all(p.grad is None for p in teacher.parameters())
    for name, g in grads.items():
        torch.testing.assert_close(g, reference[name], rtol=1e-4, atol=1e-5, msg=name)


def test_one_chunk_is_bit_identical_to_transformers(batch):
    """What keeps the default pipeline's recovered weights unchanged."""
    model = _model(0)
    expected = model(input_ids=batch, labels=batch).loss
    loss, _ = causal_lm_loss(model, batch, chunk_bytes=CHUNKS[-1])
    assert torch.equal(loss, expected)


@pytest.mark.parametrize("chunk_bytes", CHUNKS)
def test_summed_nll_matches_full_logits(batch, chunk_bytes):
    model = _model(0).eval()
    with torch.no_grad():
        logits = model(input_ids=batch).logits[:, :-1]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB),
                                                 batch[:, 1:].reshape(-1), reduction="sum")
    got = next_token_nll(model, batch, chunk_bytes=chunk_bytes)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-4)
