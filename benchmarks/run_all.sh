#!/usr/bin/env bash
# benchmarks/speed.py on every backend, as one markdown table. Extra arguments go to speed.py.
set -uo pipefail
cd "$(dirname "$0")/.."
echo "| backend | train img/s | sample img*NFE/s |"
echo "| --- | --- | --- |"
for backend in tensorflow jax torch; do
    KERAS_BACKEND=$backend python benchmarks/speed.py "$@" 2>/dev/null || echo "| $backend | failed | |"
done
