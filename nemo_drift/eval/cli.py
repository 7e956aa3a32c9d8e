"""`nemo-drift eval SUBCOMMAND`: look at what a run did, without training anything.

    nemo-drift eval heldout RUN_DIR     the held-out learning signal per iteration (from the run's metrics)
    nemo-drift eval export BENCHMARK MODEL_DIR --prompts FILE [--out FILE] [key=value ...]
                                        a policy's replies in the file AlpacaEval 2 / WildBench v2 evaluate
    nemo-drift eval reward BENCHMARK OUTPUTS... --prompts FILE --reward-model DIR --baseline FILE
                                        mean reward per policy and win rate over the baseline

Each subcommand reads only files a run (or the user) wrote; a missing or malformed one is one line
naming the file.
"""
from __future__ import annotations

import argparse
import json
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


def _reward_args(p: argparse.ArgumentParser) -> None:
    from nemo_drift.eval.benchmarks import BENCHMARKS

    p.add_argument("benchmark", choices=sorted(BENCHMARKS))
    p.add_argument("outputs", nargs="+", type=Path, help="evaluator files written by `eval export`, one per policy")
    p.add_argument("--prompts", required=True, help="the prompts the files answer (as given to `eval export`)")
    p.add_argument("--reward-model", required=True, type=Path,
                   help="a local one-logit sequence-classification model (e.g. reward-model-deberta-v3-large-v2)")
    p.add_argument("--baseline", required=True, type=Path, help="the file the others are compared with (the base model's)")


def _reward(args: argparse.Namespace) -> int:
    from nemo_drift.eval.benchmarks import read_prompts
    from nemo_drift.eval.reward import RewardModel
    from nemo_drift.eval.reward_judge import format_rows, read_replies, reward_rows

    prompts = read_prompts(args.benchmark, args.prompts)
    files = list(dict.fromkeys([args.baseline, *args.outputs]))
    replies = {str(path): read_replies(args.benchmark, path, prompts) for path in files}
    model = RewardModel(args.reward_model, setting="--reward-model")
    print(format_rows(reward_rows(model, prompts, replies, str(args.baseline)), str(args.baseline)))
    return 0


SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "heldout": ("the held-out learning signal per iteration of a run",
                lambda p: p.add_argument("run_dir", type=Path, help="a run folder (runs/<name>)"), _heldout),
    "export": ("a policy's replies to a benchmark's prompts, in the file its evaluator reads", _export_args, _export),
    "reward": ("mean reward of each policy's benchmark replies and its win rate over a baseline (local reward model)",
               _reward_args, _reward),
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
    try:
        args = parser().parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return SUBCOMMANDS[args.subcommand][2](args)
