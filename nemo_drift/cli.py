"""`nemo-drift`: the command line. Each subcommand takes NeMo-style overrides (`key=value`,
`++key=value`, `group=preset`) on top of conf/drift.yaml.

Only subcommands that work are registered; `nemo-drift --help` lists them.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable, Sequence


@dataclass(frozen=True)
class Command:
    """One subcommand: a one-line summary and a function of the override list returning an exit code."""

    summary: str
    run: Callable[[list[str]], int]


def _prepare(overrides: list[str]) -> int:
    from pathlib import Path

    from nemo_drift.config.loader import load_config
    from nemo_drift.data.prepare import prepare

    cfg = load_config(overrides)
    out_dir = Path(cfg.run.root) / cfg.run.name / "data"
    summary = prepare(cfg.data, out_dir)
    print(summary.format_table())
    print(f"records written to {out_dir}")
    return 0


def _run(overrides: list[str]) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.controller.launcher import StageFailed
    from nemo_drift.controller.run_command import run_command
    from nemo_drift.controller.stage_runner import RunError

    cfg = load_config(overrides)
    try:
        run_command(cfg)
    except (StageFailed, RunError) as err:
        print(f"nemo-drift run: {err}", file=sys.stderr)
        return 1
    return 0


def _train(overrides: list[str]) -> int:
    from nemo_drift.megatron.train_entry import main as train_main

    return train_main(overrides)


def _plan(overrides: list[str]) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.planner.cli import plan_command

    # Not validated first: planning a 72B layout with sequence parallelism on a laptop without
    # Transformer Engine is legitimate; the planner applies its own refusals.
    return plan_command(load_config(overrides, validate=False))


def _export(args: list[str]) -> int:
    from nemo_drift.megatron.export import main as export_main

    return export_main(args)


def _check_parity(args: list[str]) -> int:
    from nemo_drift.megatron.parity import main as parity_main

    return parity_main(args)


COMMANDS: dict[str, Command] = {
    "run": Command("the whole DRIFT/SPIN/IterDPO run: prepare, import, warm start, K iterations (resumable)", _run),
    "prepare": Command("read feedback logs -> DSAT/SAT/seed/held-out records + rejects + summary", _prepare),
    "plan": Command("per-GPU memory, GPUs, tokens/step, time per iteration; refuses layouts that cannot fit",
                    _plan),
    "export": Command("Megatron checkpoint <-> Hugging Face folder (to-hf | from-hf; --help for arguments)", _export),
    "check-parity": Command("vLLM vs Megatron log-probs of the same sampled tokens (MODEL_DIR --work-dir DIR)",
                            _check_parity),
    "train": Command("one DPO job: tokenized pairs + checkpoint -> checkpoint (torchrun/srun for several ranks)",
                     _train),
}


def _parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<14} {cmd.summary}" for name, cmd in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="nemo-drift",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="DRIFT / SPIN / IterDPO preference training on megatron-core.",
        epilog=f"commands:\n{lines}\n\noverrides: key=value, ++key=value, group=preset "
               "(e.g. nemo-drift run method=spin trainer.lr=1e-6)",
        usage="nemo-drift COMMAND [key=value ...]",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nemo-drift` console script."""
    from nemo_drift.config.loader import ConfigError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        _parser().print_help()
        return 0 if args else 2
    name, overrides = args[0], args[1:]
    if "--dry-run" in overrides:  # same as run.dry_run=true: print each stage's command, run nothing
        overrides = [o for o in overrides if o != "--dry-run"] + ["run.dry_run=true"]
    if name not in COMMANDS:
        print(f"nemo-drift: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name].run(overrides)
    except ConfigError as err:
        print(f"nemo-drift {name}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
