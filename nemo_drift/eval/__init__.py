"""Evaluation and reporting: training-dynamics plots (plots.py), the per-iteration summary table
(summary.py), and the reward model IterDPO ranks samples with (reward.py)."""
