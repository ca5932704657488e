#!/usr/bin/env bash
# A short train and sample on a GPU machine, on the JAX and torch backends,
# in float32 and in mixed bfloat16.
# Prints the same table as benchmarks/speed.py (train img/s at batch 128,
# sampling img*NFE/s at batch 64). Pass a folder to keep the JSON figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp}
export XLA_PYTHON_CLIENT_PREALLOCATE=false
echo "| backend | train img/s | sample img*NFE/s |"
echo "| --- | --- | --- |"
for backend in jax torch; do
    for precision in "" --mixed-precision; do
        name=$backend${precision:+_bf16}
        KERAS_BACKEND=$backend python benchmarks/speed.py --steps 100 $precision --json "$out/speed_$name.json" 2>"$out/speed_$name.err" \
            || { echo "| $name | failed: see $out/speed_$name.err | |"; tail -5 "$out/speed_$name.err"; }
    done
done
