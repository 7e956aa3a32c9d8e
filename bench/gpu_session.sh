#!/usr/bin/env bash
# Everything still owed on a GPU, as ONE device call (~9 min on one H100):
#   device run: bash bench/gpu_session.sh      carry: [".whl"]     timeout_s: 600
# .whl/ (git-ignored) must hold the megatron-core 0.19.2 cp312 wheel (pip download megatron-core==0.19.2
# --no-deps --python-version 3.12 --only-binary=:all: -d .whl); the device image has torch + transformers.
# Results land in $OUT (the device tool brings them back); copy the JSON files into bench/ and the
# figures into bench/README.md.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_session}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
python3 -c "import torch, megatron.core; print(torch.__version__, megatron.core.__version__)" >> "$OUT/gpu.txt" 2>&1

step() {  # name, command...: run one measurement, keep its stderr, never stop the others
    local name=$1; shift
    local start=$SECONDS
    "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
    echo "$name: exit $? in $((SECONDS - start)) s"
}
# packing first (issue 15): packed vs padded vs both peers on the heavy-tailed lengths, then uniform 2048
step packing python3 bench/bench_packing.py --steps 4
step packing_uniform python3 bench/bench_packing.py --uniform --steps 3 --paths peer_fp32_master,ours_packed
# 0. the capability probe the controller runs in the training image (issue 12): torch, CUDA, TE, Apex, GPUs
step probe python3 -m nemo_drift.runtime.probe --out "$OUT/capabilities.json"
# 1. distributed-optimizer resume (RMSprop state keys, KeyError('step') fix): exit 0 = identical steps 3-4
step resume_distopt python3 tests/megatron/workers/gpu_resume_distopt.py /tmp/resume_distopt
# 2. the log-prob head alone, bf16, the 1.5B step's shape (4 x 2048 tokens, vocab 151,936)
step logprobs python3 bench/bench_logprobs.py --tokens 2048 --dtype bf16
# 3. the DPO step vs both peers (bf16 weights; fp32 master weights), each path in its own process
step dpo_step python3 bench/bench_dpo_step.py --steps 5 --warmup 2 --variants full,torch_rmsprop
tail -c 2000 "$OUT"/*.err
