#!/bin/bash
# Issue 18's figures: TPE against random search at an equal number of trials, and what median
# pruning saves, on scikit-learn's real digits (an MLP, 20 epochs). Prints each sweep's wall time
# and its best validation loss (search.json).  Run: bash benchmarks/search_compare.sh [TRIALS] [SEED]
set -e
trials=${1:-16}; seed=${2:-0}
dir=$(mktemp -d)
cat > "$dir/digits.yaml" <<'YAML'
name: digits-search
data: {source: digits, validation_split: 0.2}
layers: [{Dense: {units: 64, activation: relu}}, {Dense: {units: 10, activation: softmax}}]
epochs: 20
YAML
export NNCTL_RUNS_DIR=$dir/runs NNCTL_OFFLINE=1
for mode in "random none" "tpe none" "tpe median"; do
    set -- $mode
    began=$(date +%s.%N)
    nnctl sweep "$dir/digits.yaml" --space 'optimizer.learning_rate=log(1e-4, 3e-1)' \
        --space 'layers.0.Dense.units=int(8, 256, log)' --space 'batch_size=choice(16, 64, 256)' \
        --search "$1" --prune "$2" --trials "$trials" --seed "$seed" > /dev/null 2> "$dir/$1-$2.log"
    took=$(echo "$(date +%s.%N) - $began" | bc)
    folder=$(ls -td "$dir"/runs/*-search-* | head -1)
    python3 - "$folder/search.json" "$1" "$2" "$took" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
states = [t["state"] for t in s["trials"]]
print(f"{sys.argv[2]:6s} prune {sys.argv[3]:6s} {len(states)} trials ({states.count('pruned')} pruned) "
      f"wall {float(sys.argv[4]):6.1f} s  best val_loss {s['best']['value']:.4f}")
PY
done
rm -rf "$dir"
