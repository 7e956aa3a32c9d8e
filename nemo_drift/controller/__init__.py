"""The iteration controller behind `nemo-drift run`.

    pipeline.py      the paper's Algorithm 1 as stages (iteration 0, then K iterations)
    stage_runner.py  run a stage at most once: skip / detect changed settings / resume.from_stage
    stage_dir.py     atomic stage folders (<stage>.tmp renamed on success); manifest.py: what a stage did
    stages.py        stage bodies (Megatron jobs through the launcher); sampling.py, pairs_stage.py,
                     parity_stage.py: generation, pair building and the iteration-0 parity check
    settings.py      which settings each stage depends on (derived from the schema's declarations)
    preflight.py     checks before any model loads: method settings, data enough for one step
    launcher.py      local subprocess / torchrun / dry-run; srun.py: SLURM steps inside an allocation
    console.py       what of a stage's output reaches the console (results, bars) and what only its log
    run_command.py   run folder, launcher choice, summary table, plots, report
"""
