#!/usr/bin/env bash
# A short train and sample on a GPU machine, on the JAX and torch backends.
# Prints the same table as benchmarks/speed.py (train img/s at batch 128,
# sampling img*NFE/s at batch 64). Pass a folder to keep the JSON figures.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp}
export XLA_PYTHON_CLIENT_PREALLOCATE=false
echo "| backend | train img/s | sample img*NFE/s |"
echo "| --- | --- | --- |"
for backend in jax torch; do
    KERAS_BACKEND=$backend python benchmarks/speed.py --steps 100 --json "$out/speed_$backend.json" 2>"$out/speed_$backend.err" \
        || { echo "| $backend | failed: see $out/speed_$backend.err | |"; tail -5 "$out/speed_$backend.err"; }
done
