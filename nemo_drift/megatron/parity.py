"""Parity check: do vLLM (which samples) and Megatron (which trains) compute the same model?

vLLM reports the raw log-prob of every prompt token (`prompt_logprobs`) and every sampled token
(`logprobs`); the Megatron model scores the same token sequences. A wrong export (tied lm_head,
shuffled QKV, TP merge bug, wrong RoPE base) shows up as a large gap long before it would show up in
DPO curves. Metrics over all scored tokens:

    max_abs, mean_abs   |logp_vllm - logp_megatron|
    mult_prob_error     mean exp(|logp_vllm - logp_megatron|)  (NeMo-RL's token_mult_prob_error;
                        it treats > 1.05 as a bug, so that is the default threshold)

Worked example: diffs [0.0, 0.1] -> max 0.1, mean 0.05, mult (1 + e^0.1) / 2 = 1.0526 -> fails at 1.05.
Two halves, so each runs where its interpreter and GPUs are: `sample_for_parity` (vLLM in the
generation interpreter, started by the controller through the run's generation launcher) writes a
samples file; `score_parity` (the Megatron job on the training ranks) scores it and writes
`parity.json`. Runs once at iteration 0 (the controller fails the run when `ok` is False) and as
`nemo-drift check-parity` (`check_parity`: both halves in one process group).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from nemo_drift.config.generation import GenerationConfig
from nemo_drift.config.model import ModelConfig
from nemo_drift.generation.records import Sample, SampleRequest

if TYPE_CHECKING:
    from nemo_drift.generation.client import Launcher

DEFAULT_THRESHOLD = 1.05
"""Mean multiplicative probability error above which NeMo-RL calls generation/training mismatch a bug."""

PARITY_PROMPTS = ("What is the capital of France?", "Write one sentence about the sea.",
                  "Give me three tips for sleeping better.", "Explain what a prime number is.")


@dataclass
class ParityReport:
    """Log-prob agreement between vLLM and Megatron on the same tokens."""

    max_abs: float
    mean_abs: float
    mult_prob_error: float
    tokens: int
    sequences: int
    threshold: float
    ok: bool

    def raise_if_off(self) -> None:
        """Fail loudly (the controller calls this at iteration 0)."""
        if not self.ok:
            raise RuntimeError(f"parity check failed: mean multiplicative probability error {self.mult_prob_error:.4f} "
                               f"> {self.threshold} (max |dlogp| {self.max_abs:.4f}, mean {self.mean_abs:.5f} over "
                               f"{self.tokens} tokens): vLLM and Megatron disagree about the model. First check that "
                               "Megatron builds this architecture as Hugging Face does: `nemo-drift check-model "
                               "HF_FOLDER` (minutes; the supported families are in docs/model-families.md); if "
                               "it passes, check the export (tied embeddings, lm_head, TP merge)")


@dataclass
class ScoredSequence:
    """One prompt + completion with vLLM's log-prob for each scored token."""

    token_ids: list[int]
    """prompt ids + completion ids."""
    positions: list[int]
    """Indices t (>= 1) of tokens whose log-prob vLLM reported: logp(token_ids[t] | token_ids[:t])."""
    vllm_logprobs: list[float]


def parity_metrics(reference: Sequence[Sequence[float]], candidate: Sequence[Sequence[float]],
                   threshold: float = DEFAULT_THRESHOLD) -> ParityReport:
    """Compare per-token log-probs sequence by sequence (pure Python: testable by hand)."""
    diffs = [abs(a - b) for ref, cand in zip(reference, candidate, strict=True) for a, b in zip(ref, cand, strict=True)]
    if not diffs:
        raise ValueError("parity check: no tokens to compare")
    mult = sum(math.exp(d) for d in diffs) / len(diffs)
    return ParityReport(max_abs=max(diffs), mean_abs=sum(diffs) / len(diffs), mult_prob_error=mult,
                        tokens=len(diffs), sequences=len(reference), threshold=threshold,
                        ok=mult <= threshold and math.isfinite(mult))


def scored_sequences(samples: Sequence[Sample]) -> list[ScoredSequence]:
    """Sequences to score from samples written with prompt log-probs (first sample of each prompt)."""
    out, seen = [], set()
    for sample in samples:
        if sample.prompt_id in seen:
            continue
        seen.add(sample.prompt_id)
        if sample.prompt_token_ids is None or sample.prompt_logprobs is None or sample.token_logprobs is None:
            raise ValueError(f"sample {sample.prompt_id}/{sample.sample_index} has no prompt log-probs: generate "
                             "with prompt_logprobs=True")
        ids = list(sample.prompt_token_ids) + list(sample.token_ids)
        values = list(sample.prompt_logprobs) + list(sample.token_logprobs)
        positions = [t for t in range(1, len(ids)) if values[t] is not None]
        out.append(ScoredSequence(ids, positions, [float(values[t]) for t in positions]))
    return out


def megatron_logprobs(model_dir: Path, sequences: Sequence[ScoredSequence], model_cfg: ModelConfig,
                      checkpoint_dir: Optional[Path] = None) -> Optional[list[list[float]]]:
    """Megatron's log-prob of each scored token (returned on the last pipeline stage, else None).

    The model is built from the HF folder `model_dir`, or loaded from `checkpoint_dir` when given (then
    the check covers checkpoint -> export -> vLLM end to end).
    """
    import torch
    from megatron.core import parallel_state as ps
    from megatron.core.pipeline_parallel import get_forward_backward_func

    from nemo_drift.megatron.checkpoint import load_checkpoint
    from nemo_drift.megatron.logprobs import make_forward_step
    from nemo_drift.megatron.model import build_model
    from nemo_drift.runtime import init_distributed

    init_distributed(tensor_parallel=model_cfg.tensor_model_parallel_size,
                     pipeline_parallel=model_cfg.pipeline_model_parallel_size)
    width = -(-max(len(s.token_ids) for s in sequences) // 8) * 8
    cfg = ModelConfig(**{**asdict(model_cfg), "seq_length": max(width, 8), "hf_path": str(model_dir)})
    built = build_model(model_dir, cfg, load_weights=checkpoint_dir is None, for_training=False)
    if checkpoint_dir is not None:
        load_checkpoint(checkpoint_dir, built.chunks, load_rng=False)
    rows = len(sequences)
    tokens = torch.zeros((rows, width), dtype=torch.long)  # [B, S], right-padded (causal: pads never leak back)
    for r, seq in enumerate(sequences):
        tokens[r, :len(seq.token_ids)] = torch.tensor(seq.token_ids)
    labels = torch.zeros_like(tokens)
    labels[:, :-1] = tokens[:, 1:]  # [B, S]: labels[:, t] = tokens[:, t+1]
    batch = {"tokens": tokens, "labels": labels, "loss_mask": torch.ones((rows, width)),
             "position_ids": torch.arange(width).unsqueeze(0).expand(rows, width).contiguous()}

    def keep_all(token_logps: torch.Tensor, _batch: dict) -> tuple:
        return token_logps.new_zeros(()), {"token_logps": token_logps.detach()}

    with torch.no_grad():
        out = get_forward_backward_func()(
            forward_step_func=make_forward_step(keep_all), data_iterator=iter([batch]), model=built.chunks,
            num_microbatches=1, seq_length=width, micro_batch_size=rows, forward_only=True)
    if not ps.is_pipeline_last_stage():
        return None
    logps = out[0]["token_logps"].float().cpu()  # [B, S]: logps[:, t] = log p(tokens[t+1] | tokens[:t+1])
    return [[float(logps[r, t - 1]) for t in seq.positions] for r, seq in enumerate(sequences)]


def default_requests(model_dir: Path, count: int = 4) -> list[SampleRequest]:
    """A few short prompts rendered with the model's own chat template."""
    from transformers import AutoTokenizer

    from nemo_drift.data.fit import render_prompt

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    return [SampleRequest(f"parity-{i}", render_prompt(tokenizer, [{"role": "user", "content": text}]))
            for i, text in enumerate(PARITY_PROMPTS[:count])]


def sample_for_parity(model_dir: str | Path, samples_dir: str | Path, model_cfg: ModelConfig,
                      gen_cfg: Optional[GenerationConfig] = None, requests: Optional[Sequence[SampleRequest]] = None,
                      max_tokens: int = 16, launcher: Optional[Launcher] = None, *, on_gpu: bool) -> Path:
    """The sampling half, run where the generation interpreter and free GPUs are (the controller; no
    torch, no megatron): one vLLM sampler draws `max_tokens` tokens per prompt from `model_dir` with
    prompt and token log-probs, through `launcher` (srun replicas on a cluster, local processes when
    None). `on_gpu` says where the Megatron half will run (`cluster.on_gpu`), which fixes the dtype.
    Returns the merged samples file (resumable: a rerun over the same folder reuses finished shards)."""
    from nemo_drift.generation.client import generate

    model_dir = Path(model_dir)
    base = gen_cfg or GenerationConfig()
    cfg = GenerationConfig(**{**asdict(base), "n": 1, "max_tokens": max_tokens, "replicas": 1,
                              "prompts_per_shard": 64, "dtype": model_cfg.vllm_dtype(on_gpu)})
    reqs = list(requests) if requests is not None else default_requests(model_dir)
    return generate(reqs, model_dir, Path(samples_dir), cfg, launcher=launcher, prompt_logprobs=True).samples_path


def score_parity(samples_path: str | Path, work_dir: str | Path, model_cfg: ModelConfig,
                 threshold: float = DEFAULT_THRESHOLD, score_model_dir: Optional[str | Path] = None,
                 checkpoint_dir: Optional[str | Path] = None) -> Optional[ParityReport]:
    """The Megatron half, run under torch.distributed on the training ranks: score the tokens of a
    finished samples file (never samples: no generation interpreter needed) with Megatron built from
    `score_model_dir` (default: the folder the samples were drawn from) or loaded from
    `checkpoint_dir`, and compare. Writes `work_dir/parity.json`; returns the report (None on ranks
    that are not the last pipeline stage)."""
    from nemo_drift.generation.records import read_samples

    samples_path, work_dir = Path(samples_path), Path(work_dir)
    samples = read_samples(samples_path)
    if not samples:
        raise ValueError(f"parity check: {samples_path} holds no samples")
    model_dir = Path(samples[0].provenance.model_path) if samples[0].provenance else None
    score_model_dir = Path(score_model_dir) if score_model_dir else model_dir
    if score_model_dir is None:
        raise ValueError(f"parity check: {samples_path} names no model (no provenance): pass score_model_dir")
    sequences = scored_sequences(samples)
    ours = megatron_logprobs(score_model_dir, sequences, model_cfg, Path(checkpoint_dir) if checkpoint_dir else None)
    if ours is None:
        return None
    report = parity_metrics([s.vllm_logprobs for s in sequences], ours, threshold)
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "parity.json").write_text(json.dumps({
        **asdict(report), "model_dir": str(model_dir), "score_model_dir": str(score_model_dir),
        "checkpoint_dir": str(checkpoint_dir) if checkpoint_dir else None, "samples": str(samples_path)}, indent=2))
    return report


def check_parity(model_dir: str | Path, work_dir: str | Path, model_cfg: ModelConfig,
                 gen_cfg: Optional[GenerationConfig] = None, requests: Optional[Sequence[SampleRequest]] = None,
                 threshold: float = DEFAULT_THRESHOLD, score_model_dir: Optional[str | Path] = None,
                 checkpoint_dir: Optional[str | Path] = None, max_tokens: int = 16) -> Optional[ParityReport]:
    """Both halves in one process group (`nemo-drift check-parity`, tests): rank 0 samples into
    `work_dir/samples` with local sampler processes, then every rank scores (`score_parity`).
    Returns the report (None on ranks that are not the last pipeline stage)."""
    import torch
    import torch.distributed as dist

    from nemo_drift.generation.shards import ShardLayout
    from nemo_drift.runtime import init_distributed

    model_dir, work_dir = Path(model_dir), Path(work_dir)
    init_distributed(tensor_parallel=model_cfg.tensor_model_parallel_size,
                     pipeline_parallel=model_cfg.pipeline_model_parallel_size)
    layout = ShardLayout(work_dir / "samples")
    if dist.get_rank() == 0:  # one sampler for the whole job; the other ranks read its file
        sample_for_parity(model_dir, layout.root, model_cfg, gen_cfg, requests, max_tokens,
                          on_gpu=torch.cuda.is_available())
    dist.barrier()
    return score_parity(layout.merged_path, work_dir, model_cfg, threshold, score_model_dir or model_dir,
                        checkpoint_dir)


def main(argv: Optional[list[str]] = None) -> int:
    """`nemo-drift check-parity MODEL_DIR --work-dir DIR [key=value ...]`: exit 1 when the check fails.
    Model and generation settings are config overrides read by the one loader (fp32 unless
    `model.precision` says otherwise: exactness is checked in fp32)."""
    from nemo_drift.config.loader import load_config

    parser = argparse.ArgumentParser(prog="nemo-drift check-parity", description="vLLM vs Megatron log-prob parity; "
                                     "trailing key=value arguments are config overrides (model.*, generation.*)")
    parser.add_argument("model_dir", type=Path, help="Hugging Face folder vLLM samples from")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--score-model-dir", type=Path, default=None, help="HF folder Megatron is built from")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="Megatron checkpoint to score with")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args, overrides = parser.parse_known_args(argv)
    cfg = load_config([f"model.hf_path={args.model_dir}", "model.precision=fp32", *overrides],
                      groups=("model", "generation"))
    report = check_parity(args.model_dir, args.work_dir, cfg.model, cfg.generation, threshold=args.threshold,
                          score_model_dir=args.score_model_dir, checkpoint_dir=args.checkpoint_dir)
    if report is not None:
        print(json.dumps(asdict(report), indent=2))
        return 0 if report.ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
