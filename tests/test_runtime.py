import pytest
import torch

from slimline import runtime
from slimline.errors import SlimlineError


@pytest.mark.parametrize("flags, native", [
    ("fpu avx2 fma", False),
    ("fpu avx512f avx512_bf16", True),
    ("fpu amx_bf16 amx_tile", True),
])
def test_native_bf16_is_read_from_cpu_flags(tmp_path, flags, native):
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert runtime.cpu_has_native_bf16(info) is native


def test_cpu_computes_in_fp32_without_native_bf16(monkeypatch):
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    assert runtime.resolve() == (torch.device("cpu"), torch.float32)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert runtime.resolve() == (torch.device("cpu"), torch.bfloat16)
    assert runtime.resolve(dtype="fp32")[1] is torch.float32
    assert runtime.dtype_name(torch.bfloat16) == "bfloat16"


def test_bad_requests_name_the_fix(monkeypatch):
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SlimlineError, match="unknown compute dtype 'fp12'"):
        runtime.resolve(dtype="fp12")
    with pytest.raises(SlimlineError, match="no CUDA device"):
        runtime.resolve(device="cuda")
