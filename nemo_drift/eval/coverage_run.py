"""`nemo-drift eval coverage`: the paper's high-reward coverage figure for several methods in one command
(DRIFT paper, section 4.3; docs/paper-reference.md, "Diversity measure").

Pipeline:

1. Inputs. Each method is a run folder (its last iteration's Hugging Face export) or a Hugging Face model
   folder (`resolve_methods`, nemo_drift/eval/run_inputs.py); the prompts come from a benchmark prompt
   file or, by default, the first run folder's held-out DSAT conversations (`coverage_prompts`). Every
   setting is checked before any model loads (`check_inputs`): the reward model by its config.json only.
2. Sampling. Each method's policy samples N replies per prompt with vLLM in the generation environment
   (`generation.*` settings, the prompts through that policy's chat template, fitted to the sampling
   prompt budget like the run's own prompts); the shards land in `<out>/samples/<method>/`, so a rerun
   reuses what finished.
3. Per prompt (`analyse_prompt`): every sample scored by the reward model; all methods' samples embedded
   together (sentence-transformers) and projected to 2-D in one UMAP call; the reward-weighted KDE, its
   high-reward region H and each method's share of it (nemo_drift/eval/coverage.py, where the measure is
   defined); one PNG, `<out>/prompt_<i>.png`.
4. Report: `<out>/coverage.md` (the summary table: mean share per method over the prompts, and the
   per-prompt shares) and `<out>/coverage.json` (per prompt shares, the mean per method, the settings).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nemo_drift.config.schema import DriftConfig
from nemo_drift.eval.coverage import (PromptCoverage, coverage_shares, embed_texts, plot_prompt_coverage,
                                      project_2d, summary_table)
from nemo_drift.eval.reward import RewardModel
from nemo_drift.eval.run_inputs import NAME_PATTERN, coverage_prompts, is_hf_folder, resolve_methods, run_folder_of

__all__ = ["CoverageReport", "analyse_prompt", "check_inputs", "check_reward_model", "coverage_prompts",
           "resolve_methods", "run_coverage", "run_folder_of", "sample_method", "write_report"]

Prompt = tuple[str, list[dict]]
"""(prompt id, chat messages ending with a user turn)."""


@dataclass
class CoverageReport:
    """What `run_coverage` wrote: the summary table and where the files are."""

    table: str
    """Markdown: mean share, std and prompt count per method (`coverage.summary_table`)."""
    markdown_path: Path
    json_path: Path
    plots: list[Path]
    """One PNG per prompt, in prompt order."""
    mean_shares: dict[str, float]
    """Method -> share of H averaged over the prompts."""
    shares: list[dict[str, float]]
    """Per prompt, method -> share of H."""


def check_reward_model(path: Path, setting: str = "--reward-model") -> None:
    """A local sequence-classification model with exactly one output, judged from config.json alone (no
    weights load): the number of outputs is len(id2label), else num_labels, else transformers' default 2."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{setting}: {path} is not a local Hugging Face model folder (no config.json)")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{setting}: {config_path} is not JSON ({err})") from None
    archs = config.get("architectures") or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ValueError(f"{setting}: {path} is not a sequence-classification model (architectures {archs}); "
                         "a reward model has one output logit")
    labels = len(config["id2label"]) if config.get("id2label") else config.get("num_labels", 2)
    if labels != 1:
        raise ValueError(f"{setting}: {path} has {labels} outputs; a reward model has exactly one")


def check_inputs(methods: dict[str, Path], prompts: Sequence[Prompt], reward_model: Path, embedding_model: Path,
                 samples: int, max_tokens: int, quantile: float, grid_size: int) -> None:
    """Every input of `run_coverage`, checked before any model loads; ValueError naming the setting."""
    check_reward_model(reward_model)
    emb = Path(embedding_model)
    if not emb.is_dir():
        raise ValueError(f"--embedding-model: {emb} is not a folder (a local sentence-transformers model is "
                         "required; nothing is downloaded)")
    if not ((emb / "modules.json").is_file() or is_hf_folder(emb)):
        raise ValueError(f"--embedding-model: {emb} holds no sentence-transformers model (no modules.json or "
                         "config.json)")
    if len(methods) < 2:
        raise ValueError(f"coverage needs at least 2 methods, got {len(methods)}: {sorted(methods)}")
    for name, path in methods.items():
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"method {name!r}: not a usable name (letters, digits, . _ + -)")
        if not is_hf_folder(Path(path)):
            raise ValueError(f"method {name!r}: {path} is not a Hugging Face model folder (no config.json)")
    for setting, value, low in (("--samples", samples, 2), ("--max-tokens", max_tokens, 1), ("--grid-size", grid_size, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{setting}: {value!r} must be an integer >= {low}")
    if not 0.0 <= quantile < 1.0:
        raise ValueError(f"--quantile: {quantile!r} must be in [0, 1) (the paper's 0.8)")
    if not prompts:
        raise ValueError("no prompts to sample")
    for prompt_id, messages in prompts:
        if not messages or messages[-1].get("role") != "user":
            raise ValueError(f"prompt {prompt_id}: the conversation must end with a user turn")


def sample_method(cfg: DriftConfig, name: str, model_dir: Path, prompts: Sequence[Prompt], work_dir: Path,
                  sampling: Any) -> list[list[Any]]:
    """`sampling.n` samples per prompt from the policy in `model_dir`, rendered with its chat template and
    fitted to the sampling prompt budget (`generation.max_prompt_tokens`, `data.overlength`); returns the
    samples of each prompt in prompt order (index order within a prompt)."""
    from transformers import AutoTokenizer

    from nemo_drift.data.prompts import PromptTooLong, render_unguided
    from nemo_drift.generation.client import generate
    from nemo_drift.generation.records import SampleRequest

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    requests = []
    for i, (prompt_id, messages) in enumerate(prompts):
        try:
            text = render_unguided(tokenizer, messages, cfg.sampling_prompt_tokens(), cfg.data.overlength).text
        except PromptTooLong as err:
            raise ValueError(f"method {name!r}, prompt {prompt_id}: {err} (generation.max_prompt_tokens, "
                             "data.overlength)") from None
        requests.append(SampleRequest(f"prompt_{i:05d}", text))
    result = generate(requests, Path(model_dir), work_dir, sampling)
    by_id: dict[str, list[Any]] = {r.prompt_id: [] for r in requests}
    for sample in result.samples:
        by_id[sample.prompt_id].append(sample)
    out = [sorted(by_id[r.prompt_id], key=lambda s: s.sample_index) for r in requests]
    short = [prompts[i][0] for i, got in enumerate(out) if len(got) != sampling.n]
    if short:
        raise RuntimeError(f"method {name!r}: the sampler returned fewer than {sampling.n} samples for prompts "
                           f"{short[:3]} ({work_dir})")
    return out


def analyse_prompt(texts: dict[str, list[str]], rewards: dict[str, np.ndarray], embedding_model: Path,
                   png: Path, title: str, quantile: float = 0.8, grid_size: int = 100, seed: int = 0
                   ) -> PromptCoverage:
    """One prompt's coverage from its samples' texts and rewards (method -> per sample): embed all methods'
    texts together, one 2-D projection, shares of the high-reward region; writes the PNG to `png`."""
    methods = list(texts)
    flat = [t for m in methods for t in texts[m]]
    xy = project_2d(embed_texts(flat, str(embedding_model)), seed=seed)
    bounds = np.cumsum([0] + [len(texts[m]) for m in methods])
    points = {m: xy[bounds[k]:bounds[k + 1]] for k, m in enumerate(methods)}
    result = coverage_shares(points, {m: np.asarray(rewards[m], dtype=np.float64) for m in methods},
                             quantile=quantile, grid_size=grid_size)
    plot_prompt_coverage(result, points, png, title)
    return result


def _title(index: int, prompt_id: str, messages: list[dict], width: int = 60) -> str:
    text = " ".join(str(messages[-1]["content"]).split())
    return f"prompt {index} ({prompt_id[:24]}): {text[:width]}{'...' if len(text) > width else ''}"


def run_coverage(cfg: DriftConfig, methods: dict[str, Path], prompts: Sequence[Prompt], reward_model: Path,
                 embedding_model: Path, out_dir: Path, samples: int, temperature: float = 1.0, max_tokens: int = 512,
                 quantile: float = 0.8, grid_size: int = 100, seed: int = 0, top_p: float = 1.0) -> CoverageReport:
    """Sample `samples` replies per prompt per method (vLLM; `temperature`, `top_p`, `max_tokens`; the
    engine seed is `generation.seed`), score, embed, project (UMAP `seed`) and measure each method's share
    of every prompt's high-reward region; write the PNGs, coverage.md and coverage.json into `out_dir`.
    Reads `generation.*`, `model.precision`/`seq_length`, `cluster.*` (GPU or CPU) and `data.overlength`."""
    from tqdm import tqdm

    check_inputs(methods, prompts, reward_model, embedding_model, samples, max_tokens, quantile, grid_size)
    if temperature == 0:
        raise ValueError("--temperature: 0 decodes greedily, so a prompt's samples are one reply repeated; "
                         "coverage needs sampling (the default 1.0 samples the policy as it is)")
    gen = cfg.generation
    sampling = dataclasses.replace(gen, n=samples, temperature=temperature, top_p=top_p, max_tokens=max_tokens,
                                   dtype=gen.dtype if gen.dtype != "auto" else cfg.model.vllm_dtype(cfg.cluster.on_gpu))
    problems = sampling.validate()
    if problems:
        raise ValueError("; ".join(p.replace("generation.temperature", "--temperature")
                                   .replace("generation.top_p", "--top-p") for p in problems))
    out_dir = Path(out_dir)
    drawn = {name: sample_method(cfg, name, path, prompts, out_dir / "samples" / name, sampling)
             for name, path in methods.items()}
    score = RewardModel(reward_model, setting="--reward-model")
    rows: list[dict[str, Any]] = []
    plots: list[Path] = []
    for i, (prompt_id, messages) in enumerate(tqdm(prompts, desc="coverage", unit="prompt", dynamic_ncols=True)):
        texts = {m: [s.text for s in drawn[m][i]] for m in methods}
        rewards = {m: np.asarray(score(messages, texts[m]), dtype=np.float64) for m in methods}
        png = out_dir / f"prompt_{i}.png"
        result = analyse_prompt(texts, rewards, embedding_model, png, _title(i, prompt_id, messages),
                                quantile, grid_size, seed)
        plots.append(png)
        rows.append({"index": i, "id": prompt_id, "plot": png.name, "shares": result.shares,
                     "mean_reward": {m: float(r.mean()) for m, r in rewards.items()},
                     "empty": {m: sum(s.empty for s in drawn[m][i]) for m in methods},
                     "truncated": {m: sum(s.truncated for s in drawn[m][i]) for m in methods}})
    settings = {"samples": samples, "temperature": temperature, "top_p": top_p, "max_tokens": max_tokens,
                "generation_seed": gen.seed, "dtype": sampling.dtype, "quantile": quantile,
                "density_quantile": result.density_quantile, "grid_size": grid_size, "umap_seed": seed,
                "reward_model": str(reward_model), "embedding_model": str(embedding_model),
                "methods": {m: str(p) for m, p in methods.items()}, "prompts": len(prompts)}
    return write_report(out_dir, rows, settings, plots)


def write_report(out_dir: Path, rows: list[dict[str, Any]], settings: dict[str, Any], plots: list[Path]
                  ) -> CoverageReport:
    """coverage.json and coverage.md (each written atomically) in `out_dir` from the per-prompt rows (each
    with index, id, plot file name and method -> share; other fields go to the JSON as they are)."""
    from nemo_drift.data.jsonl import atomic_text

    shares = [row["shares"] for row in rows]
    methods = list(shares[0])
    mean = {m: float(np.mean([s[m] for s in shares])) for m in methods}
    table = summary_table(shares)
    json_path, md_path = out_dir / "coverage.json", out_dir / "coverage.md"
    with atomic_text(json_path) as fh:
        json.dump({"mean_shares": mean, "settings": settings, "prompts": rows}, fh, indent=2)
    lines = ["# High-reward coverage", "",
             f"{settings['prompts']} prompts x {len(methods)} methods x {settings['samples']} samples "
             f"(temperature {settings['temperature']}, top_p {settings['top_p']}, max_tokens "
             f"{settings['max_tokens']}); share of each prompt's high-reward region H (top "
             f"{100 * (1 - settings['quantile']):.0f}% of the reward-weighted density) that a method's samples "
             "reach (DRIFT paper, section 4.3).", "", table, "", "## Per prompt", "",
             "| prompt | id | " + " | ".join(methods) + " |", "|---|---|" + "---:|" * len(methods)]
    for row in rows:
        cells = " | ".join(f"{row['shares'][m]:.3f}" for m in methods)
        label = " ".join(str(row["id"]).split())[:40].replace("|", "\\|")
        lines.append(f"| [{row['index']}]({row['plot']}) | {label} | {cells} |")
    with atomic_text(md_path) as fh:
        fh.write("\n".join(lines) + "\n")
    return CoverageReport(table=table, markdown_path=md_path, json_path=json_path, plots=plots,
                          mean_shares=mean, shares=shares)
