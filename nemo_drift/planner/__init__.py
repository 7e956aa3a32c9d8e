"""`nemo-drift plan`: per-GPU memory, GPU counts, tokens per step and time per iteration from a config,
and refusals of layouts that cannot work. Pure arithmetic: no torch, runs on a laptop for a 72B job."""
