#!/usr/bin/env bash
# Build the reference-oracle environment: real Theano 1.0.5 + Lasagne 0.1 (CPU only)
# in their own virtualenv `.venv-lasagne` at the repository root.
#
# Idempotent: an existing venv whose pinned versions already import is left alone
# (a rerun then only checks it). Set FORCE=1 to rebuild from scratch.
#
# Usage:  bash bench/studies/oracle/setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
VENV="$ROOT/.venv-lasagne"
PY="${PYTHON311:-python3.11}"

NUMPY_PIN="numpy==1.23.5"      # last numpy line Theano 1.0.5 works with (no np.bool removal issues)
SCIPY_PIN="scipy==1.10.1"      # cp311 wheel exists; requires numpy<1.27, so fits 1.23.5
THEANO_PIN="Theano==1.0.5"
LASAGNE_PIN="Lasagne==0.1"

check() {
    # Succeeds only if the venv has exactly the pinned versions and the adapter loads them.
    "$VENV/bin/python" - "$ROOT" <<'EOF' >/dev/null 2>&1
import sys
sys.path.insert(0, sys.argv[1] + "/bench/studies/oracle")
import compat
theano, lasagne = compat.load()
import numpy, scipy
assert numpy.__version__ == "1.23.5", numpy.__version__
assert scipy.__version__ == "1.10.1", scipy.__version__
assert theano.__version__ == "1.0.5", theano.__version__
assert lasagne.__version__ == "0.1", lasagne.__version__
EOF
}

if [[ "${FORCE:-0}" == "1" ]]; then
    rm -rf "$VENV"
fi

if [[ -x "$VENV/bin/python" ]] && check; then
    echo "setup.sh: $VENV already complete (numpy 1.23.5, scipy 1.10.1, Theano 1.0.5, Lasagne 0.1)"
    exit 0
fi

start=$(date +%s)

if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PY" >/dev/null || { echo "setup.sh: $PY not found (set PYTHON311=...)" >&2; exit 1; }
    "$PY" -m venv "$VENV"
fi

# The machine-wide pip constraint file (/etc/xdg/pip/constraints.txt) is about other
# projects' packages; blank it for this venv only so it can never veto the old pins.
export PIP_CONSTRAINT=""
export PIP_DISABLE_PIP_VERSION_CHECK=1

# pip's machine config names local wheel folders that lack these packages; it says so once
# per package ("Location ... is ignored"). Drop that noise, keep everything else.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# numpy/scipy strictly from wheels (building them from source would take very long).
pip_install --only-binary=numpy,scipy "$NUMPY_PIN" "$SCIPY_PIN"
# Theano 1.0.5 and Lasagne 0.1 are pure Python (sdists); --no-deps keeps pip from
# "upgrading" numpy/scipy. Their only other requirement is six (Theano).
pip_install six
pip_install --no-deps "$THEANO_PIN" "$LASAGNE_PIN"

if ! check; then
    echo "setup.sh: installed, but Theano/Lasagne do not load through bench/studies/oracle/compat.py:" >&2
    "$VENV/bin/python" -c "import sys; sys.path.insert(0, '$ROOT/bench/studies/oracle'); import compat; compat.load()" >&2 || true
    exit 1
fi

end=$(date +%s)
echo "setup.sh: built $VENV in $((end - start)) s"
