"""The warm nnctl server: a process that has imported TensorFlow, Keras and nnctl once and forks a
fresh child for each command (`server`), the `nnctl` entry point that hands a command to it
(`client`), and where it listens and whether it is current (`control`). See docs/daemon.md.
"""
