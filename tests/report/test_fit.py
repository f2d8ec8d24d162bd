"""The hardware-fit table against sizes computed by hand for Llama-3-8B and Llama-3-70B."""

import pytest

from slimline.errors import SlimlineError
from slimline.report.fit import (
    GIB,
    Shape,
    fit_markdown,
    fit_rows,
    kv_cache_bytes,
    max_batch,
    weight_bytes,
)

LLAMA3_8B = {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096,
             "intermediate_size": 14336, "num_attention_heads": 32, "num_key_value_heads": 8,
             "head_dim": 128, "vocab_size": 128256, "tie_word_embeddings": False,
             "torch_dtype": "bfloat16", "max_position_embeddings": 8192}
LLAMA3_70B = {"model_type": "llama", "num_hidden_layers": 80, "hidden_size": 8192,
              "intermediate_size": 28672, "num_attention_heads": 64, "num_key_value_heads": 8,
              "vocab_size": 128256, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
              "max_position_embeddings": 8192}  # head_dim omitted: 8192 / 64 = 128

# Llama-3-8B by hand. Per layer, (out × in) of the decoder linears:
#   q 4096×4096 = 16,777,216   k, v 1024×4096 = 4,194,304 each   o 4096×4096 = 16,777,216
#   gate, up 14336×4096 = 58,720,256 each   down 4096×14336 = 58,720,256
#   = 218,103,808 per layer; × 32 layers = 6,979,321,856 linear weights.
LINEAR_8B = 32 * (16_777_216 + 2 * 4_194_304 + 16_777_216 + 3 * 58_720_256)
# embed_tokens and lm_head 128256×4096 each (untied); 2 RMSNorms per layer + the final one.
OTHER_8B = 2 * 128_256 * 4096 + (32 * 2 * 4096 + 4096)
# W4A16 scales: one per 128 input columns of each linear = linear weights / 128.
GROUPS_8B = LINEAR_8B // 128
# FP8 scales: one per output channel: 4096 + 1024 + 1024 + 4096 + 14336 + 14336 + 4096.
CHANNELS_8B = 32 * 43_008

# Llama-3-70B by hand, the same way:
#   q, o 8192×8192 = 67,108,864 each   k, v 1024×8192 = 8,388,608 each
#   gate, up, down 28672×8192 = 234,881,024 each  → 855,638,016 per layer, × 80.
LINEAR_70B = 80 * (2 * 67_108_864 + 2 * 8_388_608 + 3 * 234_881_024)
OTHER_70B = 2 * 128_256 * 8192 + (80 * 2 * 8192 + 8192)
GROUPS_70B = LINEAR_70B // 128
CHANNELS_70B = 80 * (8192 + 1024 + 1024 + 8192 + 28672 + 28672 + 8192)


def test_hand_counts_are_the_published_parameter_counts():
    assert LINEAR_8B + OTHER_8B == 8_030_261_248     # "8.03B"
    assert LINEAR_70B + OTHER_70B == 70_553_706_496  # "70.6B"
    assert sum(Shape.from_config(LLAMA3_8B).parameters().values()) == 8_030_261_248
    assert sum(Shape.from_config(LLAMA3_70B).parameters().values()) == 70_553_706_496


@pytest.mark.parametrize(("config", "scheme", "expected"), [
    # bf16: every parameter 2 bytes.
    (LLAMA3_8B, "bf16", 2 * (LINEAR_8B + OTHER_8B)),                        # 16,060,522,496
    # W4A16: half a byte per linear weight + a 2-byte scale per group + the rest 16-bit.
    (LLAMA3_8B, "w4a16", LINEAR_8B // 2 + 2 * GROUPS_8B + 2 * OTHER_8B),   # 5,700,591,616
    # FP8: one byte per linear weight + a 2-byte scale per output channel + the rest 16-bit.
    (LLAMA3_8B, "fp8", LINEAR_8B + 2 * CHANNELS_8B + 2 * OTHER_8B),        # 9,083,953,152
    (LLAMA3_70B, "bf16", 2 * (LINEAR_70B + OTHER_70B)),                     # 141,107,412,992
    (LLAMA3_70B, "w4a16", LINEAR_70B // 2 + 2 * GROUPS_70B + 2 * OTHER_70B),  # 39,500,398,592
    (LLAMA3_70B, "fp8", LINEAR_70B + 2 * CHANNELS_70B + 2 * OTHER_70B),     # 72,669,806,592
])
def test_weight_bytes_match_hand_computation(config, scheme, expected):
    assert weight_bytes(config, scheme) == expected


def test_weight_bytes_pinned():
    # The same numbers written out, so a reader can compare them with published checkpoints
    # (e.g. the 8B FP8 checkpoints are ~9.08 GB, W4A16 ~5.7 GB).
    assert [weight_bytes(LLAMA3_8B, s) for s in ("bf16", "w4a16", "fp8")] == [
        16_060_522_496, 5_700_591_616, 9_083_953_152]
    assert [weight_bytes(LLAMA3_70B, s) for s in ("bf16", "w4a16", "fp8")] == [
        141_107_412_992, 39_500_398_592, 72_669_806_592]


@pytest.mark.parametrize(("config", "per_token"), [
    # 2 (K and V) × 32 layers × 8 kv heads × 128 head_dim × 2 bytes (fp16) = 131,072 = 128 KiB
    (LLAMA3_8B, 2 * 32 * 8 * 128 * 2),
    # 2 × 80 layers × 8 kv heads × 128 × 2 bytes = 327,680 = 320 KiB
    (LLAMA3_70B, 2 * 80 * 8 * 128 * 2),
])
def test_kv_cache_fp16_at_8k_batch_1_and_16(config, per_token):
    shape = Shape.from_config(config)
    assert kv_cache_bytes(shape, 1, cache_bytes=2) == 16 * per_token  # one whole 16-token block
    one = kv_cache_bytes(shape, 8192, 1, cache_bytes=2)
    assert one == 8192 * per_token
    assert kv_cache_bytes(shape, 8192, 16, cache_bytes=2) == 16 * one
    # 8B: 8192 × 128 KiB = 1 GiB per sequence, 16 GiB at batch 16.
    # 70B: 8192 × 320 KiB = 2.5 GiB per sequence, 40 GiB at batch 16.
    assert one / GIB == {32: 1.0, 80: 2.5}[shape.layers]


def test_fit_table_at_8k_against_default_gpus():
    # Budgets at gpu_memory_utilization 0.9: 21.6, 43.2, 72 and 126.9 GiB.
    gpus = [24, 48, 80, 141]
    rows = {}
    for name, config, scheme in [("8B bf16", LLAMA3_8B, "bf16"), ("70B bf16", LLAMA3_70B, "bf16"),
                                 ("70B w4a16", LLAMA3_70B, "w4a16"),
                                 ("70B fp8", LLAMA3_70B, "fp8")]:
        [rows[name]] = fit_rows(name, config, weight_bytes(config, scheme), contexts=[8192],
                                batch_sizes=[1, 16], gpus_gib=gpus, cache_dtype="fp16")
    # 8B bf16: 14.96 GiB weights; (21.6 - 14.96) / 1 GiB = 6.6 → 6 sequences on 24 GiB;
    # (43.2 - 14.96) = 28.2 → 28; (72 - 14.96) = 57.0 → 57; (126.9 - 14.96) = 111.9 → 111.
    assert rows["8B bf16"].largest_batch == {"24 GiB": 6, "48 GiB": 28, "80 GiB": 57,
                                             "141 GiB": 111}
    assert rows["8B bf16"].totals == {1: 16_060_522_496 + GIB, 16: 16_060_522_496 + 16 * GIB}
    # 70B bf16: 131.4 GiB of weights fit nowhere, not even 141 GiB × 0.9.
    assert set(rows["70B bf16"].largest_batch.values()) == {0}
    # 70B W4A16: 36.79 GiB; (43.2 - 36.79) / 2.5 = 2.56 → 2 on 48 GiB; (72 - 36.79) / 2.5
    # = 14.1 → 14 on 80 GiB (so batch 16 does not fit there); (126.9 - 36.79) / 2.5 → 36.
    assert rows["70B w4a16"].largest_batch == {"24 GiB": 0, "48 GiB": 2, "80 GiB": 14,
                                               "141 GiB": 36}
    # 70B FP8: 67.68 GiB; (72 - 67.68) / 2.5 = 1.7 → 1 on 80 GiB; (126.9 - 67.68) / 2.5 → 23.
    assert rows["70B fp8"].largest_batch == {"24 GiB": 0, "48 GiB": 0, "80 GiB": 1,
                                             "141 GiB": 23}
    table = fit_markdown(list(rows.values()), utilization=0.9)
    assert "| 70B fp8 | 8,192 | 67.68 GiB | 2.50 GiB |" in table and "80 GiB" in table


def test_contexts_beyond_the_model_are_clamped_and_auto_cache_is_the_model_dtype():
    tiny = {**LLAMA3_8B, "max_position_embeddings": 128, "torch_dtype": "float32"}
    rows = fit_rows("tiny", tiny, 1000, contexts=[2048, 8192], batch_sizes=[1],
                    gpus_gib=[24])
    assert [r.context for r in rows] == [128]
    assert rows[0].kv_per_sequence == 2 * 32 * 8 * 128 * 4 * 128  # float32: 4 bytes


def test_utilization_and_reserve():
    assert max_batch(10 * GIB, GIB, 24, utilization=0.5) == 2       # 12 - 10 = 2 GiB
    assert max_batch(10 * GIB, GIB, 24, utilization=0.5, reserve_gib=1.5) == 0


def test_bad_inputs_name_what_to_fix():
    with pytest.raises(SlimlineError, match="w8a8.*bf16, w4a16, fp8"):
        weight_bytes(LLAMA3_8B, "w8a8")
    with pytest.raises(SlimlineError, match="lacks 'num_attention_heads'"):
        Shape.from_config({"num_hidden_layers": 2})
