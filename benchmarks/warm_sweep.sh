#!/bin/bash
# Issue 18's goal: a sweep of 8 small points (iris, 6 epochs) as one `nnctl sweep` (warm workers:
# TensorFlow imported once) against the same 8 points as a shell loop of `nnctl train --set ...`.
# Each run gets a fresh runs folder (a sweep re-run would skip its finished points).
#   farm-bench -n 3 --timeout 900 --vs 'bash benchmarks/warm_sweep.sh loop' -- bash benchmarks/warm_sweep.sh sweep   [PARALLEL]
set -e
cfg=$(mktemp -d)/iris.yaml
cat > "$cfg" <<'YAML'
data: {source: iris}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]
epochs: 6
YAML
export NNCTL_RUNS_DIR=$(mktemp -d) NNCTL_OFFLINE=1
rates="0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.2"
if [ "$1" = sweep ]; then
    nnctl sweep "$cfg" --grid "optimizer.learning_rate=${rates// /,}" --parallel "${2:-1}" > /dev/null 2>&1
else
    for lr in $rates; do nnctl -q train "$cfg" --set optimizer.learning_rate=$lr > /dev/null 2>&1; done
fi
rm -rf "$NNCTL_RUNS_DIR" "$(dirname "$cfg")"
