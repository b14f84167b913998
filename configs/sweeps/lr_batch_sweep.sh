#!/bin/sh
# The sweep of lr_batch.sh as one `nnctl sweep`: 6 runs, two at a time with the cores split
# between them, in a sweep folder with a manifest. Run it again to skip finished runs and
# resume interrupted ones; add --dry-run to print the 6 `nnctl train` commands instead.
#   sh configs/sweeps/lr_batch_sweep.sh [CONFIG] [MORE nnctl sweep OPTIONS]
config=${1:-configs/mnist_mlp.yaml}
[ $# -gt 0 ] && shift
exec nnctl sweep "$config" \
  --grid optimizer.learning_rate=0.01,0.001,0.0001 \
  --grid batch_size=32,128 \
  --parallel 2 --sort accuracy "$@"
