"""The training core: a config in, a trained and tested run folder out. What `nnctl train`, the
Python API (`nnctl.train`) and every sweep worker stand on.

- entry: `train_config`, a config -> a trained run (load and override, find and check a run to
  resume, dispatch cross-validation, prepare, train); `load`, a config read as training reads it
- trainer: one run, top to bottom (run folder -> the loop -> best weights -> test -> metrics.json)
- folds: cross-validation, K ordinary fold runs inside one run folder
"""
