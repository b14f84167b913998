"""The warm nnctl server: a process that has imported TensorFlow, Keras and nnctl once and forks a
fresh child for each command (`server`), the `nnctl` entry point that hands a command to it
(`client`); where it listens and whether it is current is `nnctl.daemon_control`, at the bottom
of the layers, since `nnctl daemon status/stop` use it too. See docs/daemon.md.
"""
