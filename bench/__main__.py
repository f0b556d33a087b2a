"""``python -m bench`` and the ``lstm-init-bench`` script: see :mod:`bench.cli`."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Configure JAX's devices (:mod:`bench.devices`), then run the command line."""
    from bench import devices

    devices.configure()
    from bench.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
