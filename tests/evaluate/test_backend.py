"""eval.backend: hf by default; vllm says how to install vLLM where it is missing."""

import importlib.util

import pytest

from slimline.config import EvalConfig
from slimline.errors import SlimlineError
from slimline.evaluate.run import evaluate_checkpoint, vllm_model_class

needs_no_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None,
                                   reason="vLLM is installed here")


def test_hf_is_the_default_backend():
    assert EvalConfig().backend == "hf"


@needs_no_vllm
def test_vllm_without_vllm_names_the_install_command():
    with pytest.raises(SlimlineError, match=r"pip install 'slimline\[gpu\]'"):
        vllm_model_class()


@needs_no_vllm
def test_vllm_backend_fails_before_loading_the_model(tmp_path):
    # tmp_path holds no checkpoint: the error must come before any load is tried.
    with pytest.raises(SlimlineError, match="eval.backend=vllm but vLLM is not installed"):
        evaluate_checkpoint(tmp_path, tmp_path, EvalConfig(backend="vllm", device="cpu"))
