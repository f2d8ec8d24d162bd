"""The embedded tiny base: a byte-level BPE tokenizer and a small Llama trained on the corpus.

Pure training code; wiring (config, lineage, atomic output) lives in `slimline.base.build`.
Training is budgeted in steps, not seconds, so a busy machine trains the same model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from slimline.config import TinyModelConfig
from slimline.errors import SlimlineError

BOS, EOS, PAD = "<|bos|>", "<|eos|>", "<|pad|>"


def train_tokenizer(texts: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer that prepends BOS to every sequence."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
        model_max_length=None,
    )


def build_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=1e-5,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(cfg.train.seed)
    return LlamaForCausalLM(config)


@dataclass
class TrainResult:
    steps: int
    final_loss: float
    tokens_seen: int
    seconds: float
    losses: list[float]


def _lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, flat, then cosine decay over the last 30% of steps."""
    if step < warmup:
        return peak * (step + 1) / warmup
    decay_start = int(total * 0.7)
    if step < decay_start:
        return peak
    progress = (step - decay_start) / max(1, total - decay_start)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model: LlamaForCausalLM, stream: torch.Tensor, cfg: TinyModelConfig) -> TrainResult:
    """Next-token training on random windows of `stream`, deterministic for a seed."""
    t = cfg.train
    if stream.numel() <= t.seq_len:
        raise SlimlineError(
            f"model.train.seq_len={t.seq_len} is longer than the training text "
            f"({stream.numel()} tokens): lower model.train.seq_len."
        )
    gen = torch.Generator().manual_seed(t.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay,
                            betas=(0.9, 0.95), fused=True)
    model.train()
    losses: list[float] = []
    start = time.perf_counter()
    offsets = torch.arange(t.seq_len)
    bar = tqdm(range(t.steps), desc="train tiny base", unit="step", mininterval=2.0)
    step = 0
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, t.steps, t.lr, t.warmup_steps)
        starts = torch.randint(0, stream.numel() - t.seq_len, (t.batch_size,), generator=gen)
        batch = stream[starts[:, None] + offsets]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=t.bf16_autocast):
            loss = model(input_ids=batch, labels=batch).loss  # shifted inside the model
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if t.max_minutes and time.perf_counter() - start > t.max_minutes * 60:
            raise SlimlineError(
                f"training the tiny base passed model.train.max_minutes={t.max_minutes} at "
                f"step {step}/{t.steps}: the machine is slower than planned; raise "
                "model.train.max_minutes or lower model.train.steps."
            )
    model.eval()
    return TrainResult(
        steps=step + 1,
        final_loss=sum(losses[-20:]) / len(losses[-20:]),
        tokens_seen=(step + 1) * t.batch_size * t.seq_len,
        seconds=time.perf_counter() - start,
        losses=losses,
    )
