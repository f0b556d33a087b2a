"""lstm-init-bench: which initialisation of a stacked LSTM trains stably, and how well.

Start at :mod:`bench.lstm` (the equations), :mod:`bench.registry` (strategy modules) and
:mod:`bench.cli` (``python -m bench``). Importing the package has no side effects: the split of
the CPU into JAX devices is set only by the command-line entry point (:mod:`bench.devices`).
"""
