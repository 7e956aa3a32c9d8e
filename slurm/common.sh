#!/usr/bin/env bash
# Shared body of slurm/drift_*.sh (sourced after they set MODEL_PRESET). Runs the controller ONCE on
# the first node of the allocation (on the node's own environment); the controller prints the plan,
# probes the training environment (one srun task: torch, CUDA, Transformer Engine, Apex) and starts
# every GPU stage as an `srun` step, in the training image / generation image when those are set.
#
# Environment switches (all optional; docs/cluster.md has the three supported setups):
#   NEMO_DRIFT_REPO              checkout to run from, on a shared filesystem  (default: $SLURM_SUBMIT_DIR, else $PWD)
#   NEMO_DRIFT_PYTHON            the controller's interpreter (host)           (default: $REPO/.venv/train/bin/python)
#   NEMO_DRIFT_CONTAINER_IMAGE   training image, e.g. nvcr.io#nvidia/pytorch:25.09-py3 or a .sqsh file (unset: none)
#   NEMO_DRIFT_TRAIN_PYTHON      Megatron stages' interpreter, a path valid where they run
#                                (default: $REPO/.venv/train-container/bin/python with an image, else NEMO_DRIFT_PYTHON)
#   NEMO_DRIFT_GEN_IMAGE         image of the vLLM replicas                    (unset: none)
#   NEMO_DRIFT_GEN_PYTHON        vLLM replicas' interpreter                    (default: $REPO/.venv/gen-gpu/bin/python)
#   NEMO_DRIFT_CONTAINER_MOUNTS  extra src:dst[,src:dst] mounts (the repo, run folder, model folders and HF cache
#                                are mounted without being listed)
#   NEMO_DRIFT_CAPABILITIES      probe file of the training image (`nemo-drift probe`); a real run probes by itself,
#                                a dry run needs it for presets with Transformer Engine settings (32b, 72b)
#   NEMO_DRIFT_CLUSTER           conf/cluster preset                           (default: slurm_h100)
#   NEMO_DRIFT_RUN_ROOT          run folders root                              (default: $REPO/runs)
#   NEMO_DRIFT_RUN_NAME          run folder name                               (default: <preset>_<job id>)
#   NEMO_DRIFT_DRY_RUN=1 or a first argument --dry-run: validate, print the plan and every srun line, run nothing.
# Every other argument is a config override: sbatch slurm/drift_14b.sh trainer.max_steps=10 method=spin
set -euo pipefail

: "${MODEL_PRESET:?set MODEL_PRESET before sourcing slurm/common.sh}"
DRY_RUN="${NEMO_DRIFT_DRY_RUN:-0}"
if [[ "${1:-}" == "--dry-run" ]]; then
  DRY_RUN=1
  shift
fi

REPO="${NEMO_DRIFT_REPO:-${SLURM_SUBMIT_DIR:-$PWD}}"
PYTHON="${NEMO_DRIFT_PYTHON:-$REPO/.venv/train/bin/python}"
IMAGE="${NEMO_DRIFT_CONTAINER_IMAGE:-}"
if [[ -n "$IMAGE" ]]; then
  TRAIN_PYTHON="${NEMO_DRIFT_TRAIN_PYTHON:-$REPO/.venv/train-container/bin/python}"
else
  TRAIN_PYTHON="${NEMO_DRIFT_TRAIN_PYTHON:-$PYTHON}"
fi
GEN_PYTHON="${NEMO_DRIFT_GEN_PYTHON:-$REPO/.venv/gen-gpu/bin/python}"
CLUSTER_PRESET="${NEMO_DRIFT_CLUSTER:-slurm_h100}"
JOB_ID="${SLURM_JOB_ID:-0}"
NNODES="${SLURM_NNODES:-1}"
GPUS_PER_NODE="${SLURM_GPUS_ON_NODE:-8}"
NODELIST="${SLURM_JOB_NODELIST:-$(hostname)}"

# Rendezvous for the training steps: the first node, a port derived from the job id (as
# nemo_drift/runtime/launcher_env.py derives it when these are unset).
# First host of a compressed nodelist, in bash: "gpu[003-005,010],cpu1" -> gpu003.
first_host() {
  local list="$1" prefix inner
  prefix="${list%%[[,]*}"
  if [[ "${list:${#prefix}:1}" == "[" ]]; then
    inner="${list#"${prefix}["}"
    echo "${prefix}${inner%%[],-]*}"
  else
    echo "$prefix"
  fi
}
MASTER_ADDR="${MASTER_ADDR:-$(first_host "$NODELIST")}"
MASTER_PORT="${MASTER_PORT:-$((20000 + JOB_ID % 20000))}"
export MASTER_ADDR MASTER_PORT

RUN_NAME="${NEMO_DRIFT_RUN_NAME:-${MODEL_PRESET}_${JOB_ID}}"
RUN_ROOT="${NEMO_DRIFT_RUN_ROOT:-$REPO/runs}"
# Values are quoted for Hydra's override grammar, which refuses '#' (enroot's registry separator) unquoted.
OVERRIDES=("model=${MODEL_PRESET}" "cluster=${CLUSTER_PRESET}" "cluster.nodes=${NNODES}"
           "cluster.gpus_per_node=${GPUS_PER_NODE}" "run.root='${RUN_ROOT}'" "run.name='${RUN_NAME}'"
           "cluster.train_python='${TRAIN_PYTHON}'" "generation.python='${GEN_PYTHON}'")
[[ -n "$IMAGE" ]] && OVERRIDES+=("cluster.container_image='${IMAGE}'")
[[ -n "${NEMO_DRIFT_GEN_IMAGE:-}" ]] && OVERRIDES+=("cluster.generation_image='${NEMO_DRIFT_GEN_IMAGE}'")
[[ -n "${NEMO_DRIFT_CONTAINER_MOUNTS:-}" ]] && OVERRIDES+=("cluster.container_mounts='${NEMO_DRIFT_CONTAINER_MOUNTS}'")
[[ -n "${NEMO_DRIFT_CAPABILITIES:-}" ]] && OVERRIDES+=("cluster.capabilities='${NEMO_DRIFT_CAPABILITIES}'")
OVERRIDES+=("$@")
[[ "$DRY_RUN" == 1 ]] && OVERRIDES+=("run.dry_run=true")

CONTROLLER=("$PYTHON" -m nemo_drift.cli run "${OVERRIDES[@]}")
echo "[drift] job ${JOB_ID}: ${NNODES} node(s) x ${GPUS_PER_NODE} GPUs (${NODELIST}); MASTER_ADDR=${MASTER_ADDR} MASTER_PORT=${MASTER_PORT}"
echo "[drift] controller: $(printf '%q ' "${CONTROLLER[@]}")"
cd "$REPO"
if [[ "$DRY_RUN" == 1 ]]; then
  exec "${CONTROLLER[@]}"
fi

# Logs go to the run folder as well as to SLURM's --output file.
LOG_DIR="${RUN_ROOT}/${RUN_NAME}/logs"
mkdir -p "$LOG_DIR"
"${CONTROLLER[@]}" 2>&1 | tee -a "${LOG_DIR}/slurm_${JOB_ID}.log"
