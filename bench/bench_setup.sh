#!/usr/bin/env bash
# Time the cached setup path every `make run` / `make test` pays before its work: each environment
# check (`env/setup_env.sh train|gen` with matching stamps) and a whole `make setup` (both checks plus
# the model-asset check). Not a test: nothing asserts a speed; figures go into bench/README.md.
#
#   bench/bench_setup.sh [REPEATS]    # default 5; needs a finished `make setup`
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
repeats=${1:-5}
venv_root=${NEMO_DRIFT_VENV_ROOT:-$root/.venv}
for kind in train gen; do
  [[ -f $venv_root/$kind/.nemo-drift-stamp ]] || { echo "error: run \`make setup\` first ($kind)" >&2; exit 1; }
done

per_call() {  # per_call LABEL CMD... -> mean wall seconds of CMD over $repeats runs
  local label=$1 start end
  shift
  start=$(date +%s.%N)
  for ((i = 0; i < repeats; i++)); do "$@" >/dev/null; done
  end=$(date +%s.%N)
  awk -v l="$label" -v s="$start" -v e="$end" -v n="$repeats" 'BEGIN { printf "%-28s %6.2f s per call (%d calls)\n", l, (e - s) / n, n }'
}

per_call "setup_env.sh train (cached)" "$root/env/setup_env.sh" train
per_call "setup_env.sh gen (cached)" "$root/env/setup_env.sh" gen
per_call "make setup (cached)" make -s -C "$root" setup
