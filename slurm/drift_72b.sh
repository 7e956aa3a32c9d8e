#!/usr/bin/env bash
# DRIFT on qwen2_5_72b (TP8 x PP2 x DP2 + sequence parallel): 4 node(s) x 8 H100 80GB. The plan (memory per GPU, time per iteration)
# is printed when the job starts; before submitting: .venv/train/bin/nemo-drift plan model=qwen2_5_72b cluster=slurm_h100
#   sbatch slurm/drift_72b.sh method=drift ++trainer.lr=5e-7          # any config override passes through
#   NEMO_DRIFT_CONTAINER_IMAGE=nvcr.io#nvidia/pytorch:25.09-py3 sbatch slurm/drift_72b.sh
#   bash slurm/drift_72b.sh --dry-run                                  # validate, print the plan and every srun line, run nothing
#SBATCH --job-name=drift-72b
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=8
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --time=24:00:00
#SBATCH --output=slurm-%x-%j.out
MODEL_PRESET=qwen2_5_72b
# shellcheck source=slurm/common.sh
source "${NEMO_DRIFT_REPO:-${SLURM_SUBMIT_DIR:-$PWD}}/slurm/common.sh"
