#!/usr/bin/env bash
# Installs keras-sgm with every backend and its test tools into the active
# Python environment, then runs the test suite once per Keras backend.
set -euo pipefail
cd "$(dirname "$0")/.."
# torch==2.13.0 is pinned so that pip takes the CPU build; an unpinned torch pulls a multi-GB CUDA build.
python -m pip install -q "torch==2.13.0" -e ".[all,test]"
# The studio's browser test drives Debian's Chromium; without it (no root, no apt) that test skips, saying so.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y -q chromium || (apt-get update -q && apt-get install -y -q chromium)) >/dev/null 2>&1 \
        || echo "could not install chromium: the browser test will skip"
fi
status=0
for backend in tensorflow jax torch; do
    echo "=== KERAS_BACKEND=$backend ==="
    # One worker per core, each taking whole files, so that module fixtures are built once.
    KERAS_BACKEND=$backend python -m pytest -q --numprocesses auto --dist loadfile "$@" || status=1
done
exit $status
