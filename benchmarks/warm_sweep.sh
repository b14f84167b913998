#!/bin/bash
# A sweep of 8 small points (iris or penguins, 6 epochs) as one `nnctl sweep` (warm workers: TensorFlow
# imported once; --parallel auto by default) against the same 8 points as a shell loop of
# `nnctl train --set ...`, through the warm server (loop) or a new interpreter each (coldloop:
# NNCTL_DAEMON=0); and a CNN sweep (4 points of configs/mnist.yaml, 2 epochs) at a given
# --parallel, to check that auto is not slower there than one worker using every core.
# Each run gets a fresh runs folder (a sweep re-run would skip its finished points).
#   farm-bench -n 5 --timeout 900 --vs 'bash benchmarks/warm_sweep.sh loop iris' -- bash benchmarks/warm_sweep.sh sweep iris
#   farm-bench -n 5 --timeout 900 --vs 'bash benchmarks/warm_sweep.sh coldloop iris' -- bash benchmarks/warm_sweep.sh loop iris
#   (the same with penguins)
#   farm-bench -n 3 --timeout 900 --vs 'bash benchmarks/warm_sweep.sh cnn 1' -- bash benchmarks/warm_sweep.sh cnn auto
#   farm-bench -n 3 --timeout 900 --vs 'bash benchmarks/warm_sweep.sh cnnloop' -- bash benchmarks/warm_sweep.sh cnn
set -e
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
if [ "${2:-iris}" = penguins ]; then
    cfg=$here/configs/penguins.yaml
else
    cfg=$tmp/iris.yaml
    cat > "$cfg" <<'YAML'
data: {source: iris}
layers: [{Dense: {units: 8, activation: relu}}, {Dense: {units: 3, activation: softmax}}]
YAML
fi
export NNCTL_RUNS_DIR=$tmp/runs NNCTL_OFFLINE=1
rates="0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.2"
if [ "$1" = sweep ]; then
    nnctl sweep "$cfg" --grid "optimizer.learning_rate=${rates// /,}" --set epochs=6 > /dev/null 2>&1
elif [ "$1" = cnn ]; then
    nnctl sweep "$here/configs/mnist.yaml" --grid optimizer.learning_rate=0.003,0.001 --grid batch_size=32,64 \
        --set epochs=2 --parallel "${2:-auto}" > /dev/null 2>&1
elif [ "$1" = cnnloop ]; then
    for lr in 0.003 0.001; do for bs in 32 64; do
        nnctl -q train "$here/configs/mnist.yaml" --set optimizer.learning_rate=$lr --set batch_size=$bs \
            --set epochs=2 > /dev/null 2>&1
    done; done
else
    [ "$1" = coldloop ] && export NNCTL_DAEMON=0
    for lr in $rates; do nnctl -q train "$cfg" --set optimizer.learning_rate=$lr --set epochs=6 > /dev/null 2>&1; done
fi
rm -rf "$tmp"
