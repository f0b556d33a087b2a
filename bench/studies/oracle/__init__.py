"""The reference oracle: real Theano 1.0.5 + Lasagne 0.1 (CPU) in its own virtualenv.

``setup.sh`` builds ``.venv-lasagne``; ``compat.py`` makes the old releases import on Python
3.11; ``lasagne_oracle.py`` runs Lasagne 0.1's ``LSTMLayer`` on given parameters. Those scripts
run under ``.venv-lasagne/bin/python`` by path and import nothing from ``bench``; this package
file exists only so the folder ships with ``bench`` and imports nothing itself. ``NOTES.md``
lists Lasagne 0.1's equations from its source and what ``tests/reference`` checks.
"""
