"""The bodies of the commands that are not training or sweeping, each on a run folder or a config:
evaluate, predict, export (a trained run's model), init and init_graph (`nnctl init`'s starter
config, stack or graph form), schema (the JSON Schema), convert/ (a Keras script or saved model
-> a config). The CLI reaches them through the Python API (nnctl.api); the training and sweep
cores are nnctl.training and nnctl.sweeps.
"""
