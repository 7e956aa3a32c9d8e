"""`python -m nemo_drift.planner qwen2_5_14b slurm_h100 [key=value ...]`."""
import sys

from nemo_drift.planner.cli import main

sys.exit(main())
