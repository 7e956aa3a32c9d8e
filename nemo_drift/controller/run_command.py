"""`nemo-drift run`: set up the run folder, pick the launcher, run the pipeline, then summarise
(table, plots, report) and print where everything is."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nemo_drift.config.loader import to_yaml
from nemo_drift.config.schema import DriftConfig
from nemo_drift.controller.context import RunContext
from nemo_drift.controller.launcher import DryRunLauncher, Launcher, LocalLauncher


def make_launcher(cfg: DriftConfig) -> Launcher:
    """srun inside a SLURM allocation (`cluster.launcher=srun`), else local subprocesses/torchrun."""
    launcher: Launcher
    if cfg.cluster.launcher == "srun":
        from nemo_drift.controller.container import mounts
        from nemo_drift.controller.srun import SrunLauncher

        uses_images = cfg.cluster.container_image or cfg.cluster.generation_image
        launcher = SrunLauncher(cfg, mounts(cfg) if uses_images else [])
    else:
        launcher = LocalLauncher()
    return DryRunLauncher(launcher) if cfg.run.dry_run else launcher


def _train_records(run_dir: Path) -> list[dict[str, Any]]:
    """Every training step of the run, tagged with its iteration (warm start = 0)."""
    records = []
    for train_dir in sorted(run_dir.glob("iter_*/train"), key=lambda p: int(p.parent.name[5:])):
        path = train_dir / "metrics.jsonl"
        if path.is_file():
            it = int(train_dir.parent.name[5:])
            records += [{**json.loads(line), "iteration": it} for line in path.read_text().splitlines() if line]
    return records


def log_iterations_to_wandb(ctx: RunContext, rows: list[dict[str, Any]]) -> None:
    """Per-iteration figures as one wandb run (offline unless trainer.wandb_mode=online); each
    training job logs its own steps in its stage folder."""
    trainer = ctx.cfg.trainer
    if trainer.wandb_mode == "disabled" or not rows:
        return
    import os

    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    run = wandb.init(project=trainer.wandb_project, name=f"{ctx.cfg.run.name}-iterations", mode=trainer.wandb_mode,
                     dir=str(ctx.run_dir), config={"method": ctx.cfg.method.name, "model": ctx.cfg.model.hf_path},
                     reinit="finish_previous")
    for row in rows:
        run.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=int(row["iteration"]))
    run.finish()


def data_report(ctx: RunContext) -> list[str]:
    """The report's data section: what `prepare` counted, and where the data makes a method differ from the
    paper's setting (the prepare summary's notes)."""
    path = ctx.data_dir / "summary.json"
    if not path.is_file():
        return []
    s = json.loads(path.read_text())
    seeds = (f"{s['seed']} seed pairs from {s['seed_source']}" if s.get("seed_source")
             else f"{s['seed']} seed pairs ({s.get('seed_heldout', 0)} from held-out conversations)")
    lines = ["## Data", "", f"- {s['dsat']} DSAT records ({s['dsat_heldout']} held out), {s['sat']} SAT records "
             f"({s['sat_heldout']} held out), {seeds}; warm start on method.warm_start_seeds="
             f"{ctx.cfg.method.warm_start_seeds}"]
    lines += [f"- note: {note}" for note in s.get("notes", [])]
    return [*lines, "", "## Iterations", ""]


def summarise(ctx: RunContext) -> str:
    """Summary table + training-dynamics plot + report.md; returns the table."""
    from nemo_drift.eval.plots import plot_heldout_trend, plot_training_dynamics
    from nemo_drift.eval.run_report import write_report
    from nemo_drift.eval.summary import TABLE_LEGEND, format_table, heldout_lines, iteration_rows

    stats: dict[int, dict[str, Any]] = {}
    metrics_path = ctx.run_dir / "metrics.jsonl"  # every stage's figures, also from earlier (resumed) runs
    for line in metrics_path.read_text().splitlines() if metrics_path.is_file() else []:
        rec = json.loads(line)
        if rec.get("kind") == "iteration":  # `nemo-drift eval ... --run` adds records of kind "eval"
            stats.setdefault(rec["iteration"], {}).update({k: v for k, v in rec.items() if k != "kind"})
    records = _train_records(ctx.run_dir)
    for rec in records:  # last-step DPO metrics per iteration into the summary rows
        row = stats.setdefault(rec["iteration"], {"iteration": rec["iteration"]})
        row.setdefault("loss_first", rec["loss"])
        row.update({"loss_last": rec["loss"], **{k: rec[k] for k in rec if k.startswith("rewards/")}})
    rows = iteration_rows(list(stats.values()))
    table = format_table(rows)
    log_iterations_to_wandb(ctx, rows)
    plots = plot_training_dynamics(records, ctx.run_dir / "plots")
    heldout = heldout_lines(rows)
    heldout_plots = plot_heldout_trend(rows, ctx.run_dir / "plots")
    margins, verdict = margin_report(ctx)
    report = [f"# Run {ctx.cfg.run.name}", "", f"method: {ctx.cfg.method.name}, model: {ctx.cfg.model.hf_path}",
              "", *data_report(ctx), table, "", TABLE_LEGEND, "",
              *(f"![training dynamics]({p.relative_to(ctx.run_dir)})" for p in plots), "",
              "## Held-out learning signal", "",
              *(heldout or ["No held-out record was scored (data.heldout_fraction, or nothing held out)."]), "",
              *(f"![held-out trend]({p.relative_to(ctx.run_dir)})" for p in heldout_plots), "", *margins]
    write_report(ctx.run_dir, report)
    return table + (f"\n\nwarning: {verdict}" if verdict else "")


def margin_report(ctx: RunContext) -> tuple[list[str], str | None]:
    """The report's margin-health section (table, collapse verdict, histograms) and the verdict alone."""
    from nemo_drift.controller.margins import run_margins
    from nemo_drift.eval.margins import MARGIN_LEGEND, collapse_verdict, margin_lines
    from nemo_drift.eval.plots import plot_margin_histograms

    found = run_margins(ctx.run_dir, ctx.cfg)
    rows = [{"iteration": health.iteration, **health.to_record()} for _, health in found]
    verdict = collapse_verdict(rows, ctx.cfg.eval.collapse_margin_mean, ctx.cfg.eval.collapse_margin_std)
    plots = plot_margin_histograms([m for m, _ in found], ctx.cfg.eval.margin_tau, ctx.run_dir / "plots")
    lines = ["## Margin health", ""]
    if not rows:
        return [*lines, "No iteration scored its pairs (trainer.score_trained_pairs, or trainer.reference=in_loop)."], None
    lines += [*margin_lines(rows), "", MARGIN_LEGEND.format(tau=ctx.cfg.eval.margin_tau), "",
              f"**warning: {verdict}**" if verdict else "No margin collapse (eval.collapse_margin_mean / _std).", "",
              *(f"![margin histograms]({p.relative_to(ctx.run_dir)})" for p in plots)]
    return lines, verdict


def run_command(cfg: DriftConfig) -> dict[str, Any]:
    """The whole `nemo-drift run`: returns where the final policy is."""
    from nemo_drift.config.loader import ConfigError
    from nemo_drift.controller.pipeline import run
    from nemo_drift.controller.preflight import launch_problems, method_problems

    problems = method_problems(cfg)
    if problems:
        raise ConfigError(problems)
    run_dir = Path(cfg.run.root).resolve() / cfg.run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    problems = launch_problems(cfg)
    if problems:
        raise ConfigError(problems)
    if cfg.cluster.launcher == "srun":
        from nemo_drift.planner.cli import print_plan

        print_plan(cfg)
    config_path = run_dir / "config.yaml"
    config_path.write_text(to_yaml(cfg))
    ctx = RunContext(cfg=cfg, run_dir=run_dir, launcher=make_launcher(cfg), config_path=config_path,
                     dry_run=cfg.run.dry_run)
    result = run(ctx)
    if cfg.run.dry_run:
        return result
    table = summarise(ctx)
    print("\n" + table)
    print(f"\nrun folder:   {run_dir}\nfinal policy: {result['checkpoint']} (Megatron)\n"
          f"              {result['hf']} (Hugging Face)\nreport:       {run_dir / 'report.md'}\n"
          f"plots:        {run_dir / 'plots'}")
    return result
