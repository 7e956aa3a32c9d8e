"""`nemo-drift`: the command line. Each subcommand takes NeMo-style overrides (`key=value`,
`++key=value`, `group=preset`) on top of conf/drift.yaml, read by the one config loader.

    nemo-drift COMMAND --help          what the command does, and every setting it reads (docstring, default)
    nemo-drift COMMAND ... --cfg job   print the resolved config and exit
    nemo-drift COMMAND ... --debug     show the traceback of an error (also: NEMO_DRIFT_DEBUG=1)

A user error (a bad key, a missing file, nothing to train) is one line on stderr (a failed stage adds
its log tail); exit code 2 for a setting refused before any work, 1 for a failure during it. Only
`--debug` shows Python tracebacks.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

ALL_GROUPS = ("run", "resume", "model", "data", "method", "trainer", "generation", "cluster", "eval")


@dataclass(frozen=True)
class Command:
    """One subcommand: what it does, how it is called, the config groups it reads, and its function of
    the argument list returning an exit code."""

    summary: str
    usage: str
    groups: tuple[str, ...]
    run: Callable[[list[str]], int]
    own_help: bool = False
    """The command parses its own arguments, `--help` included (it reads no config settings)."""


def _prepare(overrides: list[str]) -> int:
    from pathlib import Path

    from nemo_drift.config.loader import load_config
    from nemo_drift.data.prepare import prepare

    cfg = load_config(overrides, groups=("run", "data"))
    out_dir = Path(cfg.run.root) / cfg.run.name / "data"
    summary = prepare(cfg.data, out_dir)
    print(summary.format_table())
    print(f"records written to {out_dir}")
    return 0


def _run(overrides: list[str]) -> int:
    from nemo_drift.config.loader import ConfigError, load_config
    from nemo_drift.controller.probe import describe, needs_probe, probe_stage_environment
    from nemo_drift.controller.run_command import run_command

    cfg = load_config(overrides, validate=False)
    probe = needs_probe(cfg)  # settings that need TE wait for the training environment's own answer
    problems = cfg.validate(check_capabilities=not probe)
    if probe and not problems:
        cfg.cluster.capabilities = str(probe_stage_environment(cfg))
        print(describe(Path(cfg.cluster.capabilities)), flush=True)
        problems = cfg.validate()
    if problems:
        raise ConfigError(problems)
    run_command(cfg)
    return 0


def _probe(overrides: list[str]) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.controller.probe import describe, probe_stage_environment

    cfg = load_config(overrides, groups=("run", "cluster"))
    out = probe_stage_environment(cfg, Path(cfg.cluster.capabilities) if cfg.cluster.capabilities else None)
    print(describe(out))
    print(f"use it with: cluster.capabilities={out}")
    return 0


def _train(args: list[str]) -> int:
    from nemo_drift.megatron.train_entry import main as train_main

    return train_main(args)


def _plan(overrides: list[str]) -> int:
    from nemo_drift.config.loader import load_config
    from nemo_drift.planner.cli import print_plan

    # Not validated first: planning a 72B layout with sequence parallelism on a laptop without
    # Transformer Engine is legitimate; the planner applies its own refusals.
    return print_plan(load_config(overrides, validate=False))


def _export(args: list[str]) -> int:
    from nemo_drift.megatron.export import main as export_main

    return export_main(args)


def _eval(args: list[str]) -> int:
    from nemo_drift.eval.cli import main as eval_main

    return eval_main(args)


def _check_parity(args: list[str]) -> int:
    from nemo_drift.megatron.parity import main as parity_main

    return parity_main(args)


def _check_model(args: list[str]) -> int:
    from nemo_drift.megatron.hf_parity import main as check_model_main

    return check_model_main(args)


COMMANDS: dict[str, Command] = {
    "run": Command("the whole DRIFT/SPIN/IterDPO run: prepare, import, warm start, K iterations (resumable)",
                   "nemo-drift run [key=value ...] [--dry-run]", ALL_GROUPS, _run),
    "prepare": Command("read feedback logs -> DSAT/SAT/seed/held-out records + rejects + summary",
                       "nemo-drift prepare data.source=FILE [data.format=NAME] [key=value ...]", ("run", "data"),
                       _prepare),
    "plan": Command("per-GPU memory, GPUs, tokens/step, time per iteration; refuses layouts that cannot fit",
                    "nemo-drift plan model=PRESET cluster=PRESET [key=value ...]",
                    ("model", "trainer", "generation", "cluster"), _plan),
    "export": Command("Megatron checkpoint <-> Hugging Face folder through Megatron-Bridge",
                      "nemo-drift export to-hf CKPT OUT --hf-template HF_FOLDER [model.key=value ...]\n"
                      "       nemo-drift export from-hf HF_FOLDER CKPT [model.key=value ...]", ("model",), _export),
    "check-parity": Command("vLLM vs Megatron log-probs of the same sampled tokens; exit 1 above the threshold",
                            "nemo-drift check-parity HF_FOLDER --work-dir DIR [--checkpoint-dir CKPT] "
                            "[--threshold X] [key=value ...]", ("model", "generation"), _check_parity),
    "check-model": Command("Hugging Face vs Megatron log-probs of one checkpoint (is its family built right?); "
                           "exit 1 when they differ",
                           "nemo-drift check-model HF_FOLDER [--length N] [model.key=value ...]", ("model",),
                           _check_model),
    "probe": Command("what the training environment (image) has: torch, CUDA, Transformer Engine, Apex, GPUs",
                     "nemo-drift probe cluster=PRESET [cluster.container_image=IMAGE] [cluster.capabilities=OUT] "
                     "[key=value ...]", ("run", "cluster"), _probe),
    "train": Command("one DPO job: tokenized pairs + checkpoint -> checkpoint (torchrun/srun for several ranks)",
                     "nemo-drift train pairs=TOKENS.jsonl init=HF_OR_CKPT out=DIR [key=value ...]",
                     ("model", "trainer"), _train),
    "eval": Command("look at what a run did: held-out signal, AlpacaEval 2 / WildBench v2 files, reward win rates",
                    "nemo-drift eval SUBCOMMAND ...", (), _eval, own_help=True),
}


def _parser() -> argparse.ArgumentParser:
    lines = "\n".join(f"  {name:<14} {cmd.summary}" for name, cmd in COMMANDS.items())
    return argparse.ArgumentParser(
        prog="nemo-drift",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="DRIFT / SPIN / IterDPO preference training on megatron-core.",
        epilog=f"commands:\n{lines}\n\noverrides: key=value, ++key=value, group=preset "
               "(e.g. nemo-drift run method=spin trainer.lr=1e-6)\n"
               "nemo-drift COMMAND --help lists every setting the command reads, with its default",
        usage="nemo-drift COMMAND [key=value ...] [--cfg job] [--debug]",
    )


def command_help(name: str) -> str:
    """`nemo-drift NAME --help`: what the command does, how to call it, and the settings it reads."""
    from nemo_drift.config.describe import format_groups

    cmd = COMMANDS[name]
    return (f"usage: {cmd.usage}\n\n{cmd.summary}.\n\nFlags: --cfg job prints the resolved config and exits; "
            "--debug shows tracebacks.\nSettings (key = default, set with key=value; `group=preset` picks a file "
            f"of conf/<group>/):\n\n{format_groups(cmd.groups)}")


def print_resolved(overrides: list[str]) -> int:
    """`--cfg job`: the composed config as YAML (no validation, so a bad value can be inspected)."""
    from nemo_drift.config.loader import load_config, to_yaml

    print(to_yaml(load_config([o for o in overrides if "=" in o], validate=False)), end="")
    return 0


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message says all a user needs: shown as one line, without a traceback."""
    from nemo_drift.config.loader import ConfigError
    from nemo_drift.controller.launcher import StageFailed
    from nemo_drift.controller.stage_runner import RunError

    return ConfigError, RunError, StageFailed, FileNotFoundError, ValueError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `nemo-drift` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("NEMO_DRIFT_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    if not args or args[0] in ("-h", "--help", "help"):
        _parser().print_help()
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"nemo-drift: unknown command {name!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if COMMANDS[name].own_help:
        return _guard(lambda: COMMANDS[name].run(rest), name, debug)
    if "-h" in rest or "--help" in rest:
        try:
            print(command_help(name))
        except BrokenPipeError:  # `| head`: the reader left; not an error
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (interpreter exit flushes it)
        return 0
    if "--dry-run" in rest:  # same as run.dry_run=true: print each stage's command, run nothing
        rest = [o for o in rest if o != "--dry-run"] + ["run.dry_run=true"]
    if "--cfg" in rest:
        return _guard(lambda: print_resolved([o for o in rest if o not in ("--cfg", "job")]), name, debug)
    return _guard(lambda: COMMANDS[name].run(rest), name, debug)


def _guard(call: Callable[[], int], name: str, debug: bool) -> int:
    """Run a command; a user error becomes its message (a failed stage's includes its log tail) unless
    --debug, which lets the traceback through."""
    from nemo_drift.config.loader import ConfigError

    if debug:
        return call()
    try:
        return call()
    except _user_errors() as err:
        print(f"nemo-drift {name}: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1


if __name__ == "__main__":
    sys.exit(main())
