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


COMMANDS: dict[str, Command] = {
    "prepare": Command("read feedback logs -> DSAT/SAT/seed/held-out records + rejects + summary", _prepare),
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
