#!/bin/sh
# A learning-rate x batch-size sweep with plain `nnctl train --set`, one run after another.
#   sh configs/sweeps/lr_batch.sh [CONFIG] [RUNS_DIR]
# The same sweep in one command, resumable and parallel: see lr_batch_sweep.sh.
set -u
config=${1:-configs/mnist_mlp.yaml}
runs=${2:-runs/lr-batch}
failed=0
for lr in 0.01 0.001 0.0001; do
  for bs in 32 128; do
    # --json prints one line of JSON last: the run folder, status and test metrics.
    result=$(nnctl train "$config" --set optimizer.learning_rate=$lr --set batch_size=$bs \
      --name "lr$lr-bs$bs" --runs-dir "$runs" --json | tail -1) || failed=1
    echo "lr=$lr batch_size=$bs: $result"
  done
done
nnctl runs "$runs" --sort accuracy   # the leaderboard: learning rate and batch size columns appear by themselves
exit $failed
