"""Evaluation and reporting: what a run did, and whether the model got better (`nemo-drift eval`, cli.py).

    summary.py, plots.py     the per-iteration summary table and the report's plots
    heldout.py               the held-out learning signal every run computes (no judge needed)
    margins.py               margin health per iteration (DRIFT paper section 5)
    run_report.py            evaluation sections in a run's report.md and metrics.jsonl
    benchmarks.py, export.py AlpacaEval 2 / WildBench v2 prompts in, evaluator files out (vLLM replies)
    reward.py, reward_judge.py        a local reward model; mean reward and win rate over a baseline
    pairwise_judge.py, length_controlled.py  a local LLM judge in both orders; AlpacaEval's LC win rate
    coverage.py, coverage_run.py, run_inputs.py  high-reward coverage (paper section 4.3) from run folders
    stats.py                 means with standard errors and intervals
"""
