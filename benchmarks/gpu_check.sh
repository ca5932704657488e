#!/usr/bin/env bash
# A short train and sample on a GPU machine, on the JAX and torch backends,
# in float32, in mixed bfloat16, with the patch_size=2 network and at
# batch 1024 (a GPU is far from busy at 128 with this small network).
# Prints the same table as benchmarks/speed.py (train img/s at batch 128,
# sampling img*NFE/s at batch 64). Pass a folder to keep the JSON figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp}
export XLA_PYTHON_CLIENT_PREALLOCATE=false
echo "| backend | train img/s | sample img*NFE/s |"
echo "| --- | --- | --- |"
run() {  # name (backend first), then speed.py options
    local name=$1
    shift
    KERAS_BACKEND=${name%%_*} python3 benchmarks/speed.py --steps 100 "$@" --json "$out/speed_$name.json" 2>"$out/speed_$name.err" \
        || { echo "| $name | failed: see $out/speed_$name.err | |"; tail -5 "$out/speed_$name.err"; }
}
for backend in jax torch; do
    run "$backend"
    run "${backend}_bf16" --mixed-precision
    run "${backend}_patch2" --patch-size 2
    run "${backend}_b1024" --batch-size 1024 --sample-batch 1024
done
