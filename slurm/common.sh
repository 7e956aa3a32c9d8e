#!/usr/bin/env bash
# Shared body of slurm/drift_*.sh (sourced after they set MODEL_PRESET). Runs the controller ONCE on
# the first node of the allocation; the controller starts every GPU stage as an `srun` step.
#
# Environment switches (all optional):
#   NEMO_DRIFT_REPO              checkout to run from          (default: $SLURM_SUBMIT_DIR, else $PWD)
#   NEMO_DRIFT_PYTHON            controller/training python    (default: $REPO/.venv/train/bin/python)
#   NEMO_DRIFT_CONTAINER_IMAGE   pyxis/enroot image for the srun steps (unset: no container)
#   NEMO_DRIFT_CONTAINER_MOUNTS  src:dst[,src:dst] mounts      (default: $REPO:$REPO, same paths inside)
#   NEMO_DRIFT_CLUSTER           conf/cluster preset           (default: slurm_h100)
#   NEMO_DRIFT_RUN_ROOT          run folders root              (default: $REPO/runs)
#   NEMO_DRIFT_DRY_RUN=1 or a first argument --dry-run: print every command, run nothing.
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
OVERRIDES=("model=${MODEL_PRESET}" "cluster=${CLUSTER_PRESET}" "cluster.nodes=${NNODES}"
           "cluster.gpus_per_node=${GPUS_PER_NODE}" "run.root=${RUN_ROOT}" "run.name=${RUN_NAME}")
if [[ -n "${NEMO_DRIFT_CONTAINER_IMAGE:-}" ]]; then
  # Quoted for Hydra's override grammar, which refuses '#' (enroot's registry separator) unquoted.
  OVERRIDES+=("cluster.container_image='${NEMO_DRIFT_CONTAINER_IMAGE}'"
              "cluster.container_mounts='${NEMO_DRIFT_CONTAINER_MOUNTS:-$REPO:$REPO}'")
fi
OVERRIDES+=("$@")

CONTROLLER=("$PYTHON" -m nemo_drift.cli run "${OVERRIDES[@]}")
echo "[drift] job ${JOB_ID}: ${NNODES} node(s) x ${GPUS_PER_NODE} GPUs (${NODELIST}); MASTER_ADDR=${MASTER_ADDR} MASTER_PORT=${MASTER_PORT}"
echo "[drift] controller: $(printf '%q ' "${CONTROLLER[@]}")"
cd "$REPO"
if [[ "$DRY_RUN" == 1 ]]; then
  # The srun step of every GPU stage of one iteration (nemo_drift/controller/srun.py), nothing run.
  SLURM_JOB_NODELIST="$NODELIST" SLURM_JOB_ID="$JOB_ID" "$PYTHON" -m nemo_drift.controller.srun "${OVERRIDES[@]}"
  exit 0
fi

# Logs go to the run folder as well as to SLURM's --output file.
LOG_DIR="${RUN_ROOT}/${RUN_NAME}/logs"
mkdir -p "$LOG_DIR"
"${CONTROLLER[@]}" 2>&1 | tee -a "${LOG_DIR}/slurm_${JOB_ID}.log"
