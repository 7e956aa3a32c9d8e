"""Export: Megatron checkpoint -> Hugging Face folder gives the original model back (fp32, 1e-5)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from tests.distributed import run_torchrun
from tests.generation.smollm2_export import WORKER, smollm2_roundtrip

pytestmark = pytest.mark.slow  # every test here imports or exports a real model (~20 s each)

TEXT = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nParis is"


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory, smollm2_path) -> dict[str, Path]:
    return smollm2_roundtrip(tmp_path_factory.getbasetemp(), smollm2_path)


def _logits(folder: Path, ids: torch.Tensor, scales: tuple[float, ...] = (1.0,)) -> list[torch.Tensor]:
    """Logits [1, T, V] of the HF model in `folder`, for each weight scale in turn (one load)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    out, current = [], 1.0
    with torch.no_grad():
        for scale in scales:
            for param in model.parameters():
                param.mul_(scale / current)
            current = scale
            out.append(model(ids).logits)
    return out


@pytest.fixture(scope="module")
def original(smollm2_path) -> dict[str, torch.Tensor]:
    """The original SmolLM2's logits, and those of the same model with every weight x 0.9."""
    ids = _ids(smollm2_path)
    plain, scaled = _logits(smollm2_path, ids, (1.0, 0.9))
    return {"ids": ids, "plain": plain, "scaled": scaled}


def _ids(folder: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))(TEXT, return_tensors="pt").input_ids


def test_smollm2_export_equals_original(roundtrip, original):
    diff = (original["plain"] - _logits(roundtrip["hf"], original["ids"])[0]).abs().max().item()
    print(f"SmolLM2 HF -> Megatron -> HF: max |logit diff| = {diff:.3g}")
    assert diff <= 1e-5
    names = {p.name for p in roundtrip["hf"].iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
            "generation_config.json"} <= names
    assert not any(n.startswith(".") and n.endswith(".tmp") for n in names)
    assert json.loads((roundtrip["hf"] / "config.json").read_text())["tie_word_embeddings"] is True


def test_export_reads_the_checkpoint_not_the_template(roundtrip, original):
    """The perturbed checkpoint (weights x 0.9) exports to the HF model scaled the same way; a stale or
    template-copied export would fail here."""
    exported = _logits(roundtrip["perturbed"], original["ids"])[0]
    assert (exported - original["scaled"]).abs().max().item() <= 1e-5
    assert (exported - original["plain"]).abs().max().item() > 1e-2


def test_untied_config_without_lm_head_is_rejected(roundtrip, tmp_path):
    from nemo_drift.megatron.export import check_hf_folder

    broken = tmp_path / "untied"
    shutil.copytree(roundtrip["hf"], broken, ignore=shutil.ignore_patterns("*.safetensors"))
    (broken / "model.safetensors").symlink_to(roundtrip["hf"] / "model.safetensors")
    check_hf_folder(broken)  # tied: fine without lm_head.weight
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "tie_word_embeddings": False}))
    with pytest.raises(RuntimeError, match="lm_head"):
        check_hf_folder(broken)


def test_tp2_export_equals_original(tiny_qwen_path, tmp_path):
    """Import and export under torchrun with TP=2 (tiny Qwen2: 4 heads, 2 KV heads, tied embeddings)."""
    ckpt, out = tmp_path / "ckpt_tp2", tmp_path / "hf_tp2"
    run_torchrun(WORKER, 2, [str(tiny_qwen_path), "2", f"import:{ckpt}", f"export:{ckpt}:{out}"], tmp_path)
    ids = _ids(tiny_qwen_path)
    diff = (_logits(tiny_qwen_path, ids)[0] - _logits(out, ids)[0]).abs().max().item()
    print(f"tiny Qwen2 TP=2 export: max |logit diff| = {diff:.3g}")
    assert diff <= 1e-5
