"""Does the Megatron build of a checkpoint compute what Hugging Face computes? (`nemo-drift check-model`)

The family registry (nemo_drift/config/families.py) admits an architecture only once this check passes
for it; a user with a new checkpoint runs it in minutes, before a warm start. Both sides score the same
real text in fp32, long enough to cross every sliding window (Gemma 3's local layers see 512 tokens),
and the per-token log-probs are compared with the metrics of the vLLM parity check
(nemo_drift/megatron/parity.py). The Megatron side runs at the layout of `model_cfg` (TP/PP), on the
ranks of the current launch; the HF side on one process.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from nemo_drift.config.model import ModelConfig
from nemo_drift.megatron.parity import ParityReport, ScoredSequence, megatron_logprobs, parity_metrics

HF_TOLERANCE = 1e-3
"""Largest |log-prob difference| per token accepted between the HF and Megatron builds in fp32. The
families pass with 1e-5 or better (README, "Model families"); a real architecture mismatch (a missing
norm, a wrong window or RoPE base) is 1e-1 or more."""

TEXT = ("Deployed assistants hear about their mistakes far more often than about their successes. A user "
        "who is unhappy with an answer corrects it, asks again, or says what was missing, and that reply is "
        "the most honest signal a chat log holds. The sky looks blue because air scatters short wavelengths "
        "of sunlight more strongly than long ones; at sunset the light crosses more air and the blue is "
        "scattered away, leaving red and orange. A prime number has exactly two divisors, one and itself. ")


def check_sequences(tokenizer, length: int, count: int = 2) -> list[ScoredSequence]:
    """`count` token sequences of `length` tokens of real text (shifted starts, so they differ), every
    position scored."""
    ids = tokenizer(TEXT * (length // 40 + 2), add_special_tokens=False)["input_ids"]
    if len(ids) < length + count:
        raise ValueError(f"check text tokenises to {len(ids)} tokens, fewer than the {length} asked for")
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    out = []
    for k in range(count):
        seq = bos + ids[7 * k: 7 * k + length - len(bos)]
        out.append(ScoredSequence(seq, list(range(1, len(seq))), [0.0] * (len(seq) - 1)))
    return out


def hf_logprobs(model_dir: str | Path, sequences: Sequence[ScoredSequence]) -> list[list[float]]:
    """Hugging Face's fp32 log-prob of every scored token, sequence by sequence."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for seq in sequences:
            tokens = torch.tensor([seq.token_ids])  # [1, S]
            logps = torch.log_softmax(model(tokens).logits.float(), dim=-1)[0]  # [S, V]
            out.append([float(logps[t - 1, seq.token_ids[t]]) for t in seq.positions])
    return out


def hf_vs_megatron(model_dir: str | Path, model_cfg: ModelConfig, length: int = 640,
                   sequences: Optional[Sequence[ScoredSequence]] = None) -> Optional[ParityReport]:
    """Megatron (at model_cfg's layout, fp32) against Hugging Face on the same tokens; the report on the
    last pipeline stage, None on the other ranks. `ok` means max |dlogp| <= HF_TOLERANCE."""
    from transformers import AutoTokenizer

    if sequences is None:
        sequences = check_sequences(AutoTokenizer.from_pretrained(model_dir), length)
    cfg = replace(model_cfg, hf_path=str(model_dir), precision="fp32")
    megatron = megatron_logprobs(Path(model_dir), sequences, cfg)
    if megatron is None:
        return None
    report = parity_metrics(hf_logprobs(model_dir, sequences), megatron)
    return replace(report, threshold=HF_TOLERANCE, ok=report.max_abs <= HF_TOLERANCE)


def describe(report: ParityReport, model_dir: str | Path) -> str:
    """One line a user reads: the verdict and the figures."""
    verdict = "matches" if report.ok else "does NOT match"
    return (f"Megatron build of {model_dir} {verdict} Hugging Face: max |dlogp| {report.max_abs:.3g} "
            f"(tolerance {HF_TOLERANCE:g}), mean {report.mean_abs:.3g} over {report.tokens} tokens in "
            f"{report.sequences} sequences")


def main(argv: Optional[list[str]] = None) -> int:
    """`nemo-drift check-model HF_FOLDER [--length N] [model.key=value ...]`: exit 1 when the builds differ."""
    from nemo_drift.config.loader import load_config

    parser = argparse.ArgumentParser(prog="nemo-drift check-model", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--length", type=int, default=640, help="tokens per checked sequence (default 640)")
    args, overrides = parser.parse_known_args(argv)
    cfg = load_config([f"model.hf_path={args.model_dir}", *overrides], validate=False).model
    report = hf_vs_megatron(args.model_dir, cfg, args.length)
    if report is None:
        return 0
    print(describe(report, args.model_dir))
    return 0 if report.ok else 1
