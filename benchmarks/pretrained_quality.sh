#!/usr/bin/env bash
# The figures of the shipped model in the README, with the commands that give them.
#   bash benchmarks/pretrained_quality.sh [mnist.npz] [output folder]
# Offline, pass ../shared/data/mnist.npz; otherwise TFDS provides the digits.
# NUM (default 10000) sets the samples per main evaluation; REFERENCE_NUM (default 2000)
# those of the comparison with the 500-step Euler-Maruyama reference, which costs 14x more
# per digit; GUIDANCE (default: the package's) the guidance of the conditional evaluation;
# INPAINT_NUM (default 1000), INPAINT_STEPS (default 100), INPAINT_RESAMPLE (default 1) and
# INPAINT_GUIDANCE (reconstruction guidance weights, default "0 25") the inpainting runs.
# BPD=1 adds bits/dim of 100 test digits (pixel-space models only: the shipped model is latent).
# About 45 minutes on an otherwise idle 2-core CPU with the defaults.
set -euo pipefail
DATA=${1:-}
OUT=${2:-runs/pretrained_quality}
NUM=${NUM:-10000}
REFERENCE_NUM=${REFERENCE_NUM:-2000}
mkdir -p "$OUT"
data_option=()
[ -n "$DATA" ] && data_option=(--data "$DATA")

run() { echo "+ $*" >&2; "$@"; }
bpd_options=()
[ "${BPD:-0}" = 1 ] && bpd_options=(--bpd --bpd-num 100 --bpd-tolerance 1e-4)
run keras-sgm evaluate --num "$NUM" --sampler heun --calibrate "${bpd_options[@]}" \
    "${data_option[@]}" --json "$OUT/heun.json" --no-progress
run keras-sgm evaluate --num "$NUM" --sampler heun --churn 10 "${data_option[@]}" \
    --json "$OUT/heun_churn.json" --no-progress
run keras-sgm evaluate --num "$REFERENCE_NUM" --sampler heun "${data_option[@]}" \
    --json "$OUT/heun_small.json" --no-progress
run keras-sgm evaluate --num "$REFERENCE_NUM" --sampler heun --churn 10 "${data_option[@]}" \
    --json "$OUT/heun_churn_small.json" --no-progress
run keras-sgm evaluate --num "$REFERENCE_NUM" --sampler euler "${data_option[@]}" \
    --json "$OUT/euler500_small.json" --no-progress
# shellcheck disable=SC2086 # the step and resample settings are lists
run python benchmarks/inpainting.py "${data_option[@]}" --num "${INPAINT_NUM:-1000}" \
    --steps ${INPAINT_STEPS:-100} --resample ${INPAINT_RESAMPLE:-1} \
    --reconstruction-guidance ${INPAINT_GUIDANCE:-0 25}
run keras-sgm evaluate --num "$NUM" --sampler heun --conditional ${GUIDANCE:+--guidance "$GUIDANCE"} "${data_option[@]}" \
    --json "$OUT/heun_conditional.json" --no-progress
