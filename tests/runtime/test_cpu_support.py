"""CPU patches: no-op when CUDA is (faked) available, idempotent, scoped to megatron.core, no leak."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # each test imports megatron and transformers in a fresh interpreter

NOOP_ON_GPU = r"""
import sys, torch
torch.cuda.is_available = lambda: True          # fake a GPU machine
import megatron.core.pipeline_parallel.schedules as schedules
from megatron.core.tensor_parallel import random as mrandom
from megatron.core.models.common.language_module.language_module import LanguageModule
before = (mrandom._get_cuda_rng_state, LanguageModule.setup_embeddings_and_output_layer, torch.Tensor.cuda,
          list(sys.meta_path))
from nemo_drift.runtime.cpu_support import apply_cpu_support, cpu_support_applied
assert apply_cpu_support() is False and not cpu_support_applied()
after = (mrandom._get_cuda_rng_state, LanguageModule.setup_embeddings_and_output_layer, torch.Tensor.cuda,
         list(sys.meta_path))
assert before == after, "something was patched on a (faked) GPU machine"
assert schedules.torch is torch
print("NOOP_OK")
"""

SCOPED = r"""
import torch, transformers.modeling_utils as mu
from nemo_drift.runtime.cpu_support import apply_cpu_support, torch_proxy
assert apply_cpu_support() is True and apply_cpu_support() is True     # idempotent
import megatron.core.pipeline_parallel.schedules as schedules           # imported before: patched in place
import megatron.core.dist_checkpointing.strategies.filesystem_async as fa  # may be new: import hook
assert schedules.torch is torch_proxy() and fa.torch is torch_proxy()
assert mu.torch is torch                                                 # transformers untouched
assert schedules.torch.zeros([], dtype=torch.int, device="cuda").device.type == "cpu"   # schedules.py:749
schedules.torch.cuda.synchronize()                                       # filesystem_async.py:248
assert schedules.torch.cuda.current_device() == "cpu"
assert isinstance(torch.device("cpu"), schedules.torch.device)
try:
    torch.zeros(1, device="cuda")
    raise SystemExit("global torch factories were redirected")
except (RuntimeError, AssertionError):
    pass
print("SCOPED_OK")
"""

NO_LEAK = r"""
import sys, torch
from transformers import AutoModelForCausalLM
path = sys.argv[1] if len(sys.argv) > 1 else %r
tokens = torch.tensor([[9707, 11, 1879, 0, 374, 264, 1273, 13]])
def logits():
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()   # fresh RoPE buffers
    with torch.no_grad():
        return model(tokens).logits, model
before, model = logits()
from nemo_drift.runtime import init_distributed
from nemo_drift.config.model import ModelConfig
from nemo_drift.megatron.model import build_model
init_distributed()
build_model(path, ModelConfig(hf_path=path, seq_length=32), for_training=False)   # patches in use
after, _ = logits()
assert torch.equal(before, after), (before - after).abs().max()
# the check can fail: a one-ulp change of the RoPE inverse frequencies changes the logits
rope = model.model.rotary_emb
rope.inv_freq.copy_(torch.nextafter(rope.inv_freq, torch.full_like(rope.inv_freq, 1.0)))
with torch.no_grad():
    assert not torch.equal(before, model(tokens).logits)
print("NO_LEAK_OK")
""" + SCOPED


def test_noop_when_cuda_is_faked_available(run_fresh):
    assert "NOOP_OK" in run_fresh(NOOP_ON_GPU)


def test_no_leak_into_transformers_and_scoped_idempotent_patches(run_fresh, tiny_qwen_path):
    """One fresh interpreter: HF logits bit-identical before/after the patches, then scope checks."""
    out = run_fresh(NO_LEAK % str(tiny_qwen_path))
    assert "NO_LEAK_OK" in out and "SCOPED_OK" in out
