"""Reference oracle: run real Lasagne 0.1 ``LSTMLayer`` (on Theano 1.0.5) on given parameters.

Runs only under the reference venv (``bash bench/studies/oracle/setup.sh`` builds it)::

    .venv-lasagne/bin/python bench/studies/oracle/lasagne_oracle.py \\
        --params P.npz --input X.npy [--mask M.npy] --output OUT.npz \\
        [--nonlinearity tanh] [--cell-nonlinearity tanh] [--no-peepholes] \\
        [--grad-clipping C] [--grad]

writes ``hid`` (batch, time, H) to OUT.npz; with ``--grad`` also ``grad/<name>`` for every
parameter: the gradient of ``L = sum(hid * G)``, ``G = params["__loss_weights__"]``.

Several cases in one process (Theano's compile time is paid once per layer configuration)::

    .venv-lasagne/bin/python bench/studies/oracle/lasagne_oracle.py --cases manifest.json

where manifest.json is a list of objects with the keys ``params``, ``input``, ``output``
and optionally ``mask``, ``nonlinearity``, ``cell_nonlinearity``, ``peepholes`` (bool),
``grad_clipping`` (number, 0 = off), ``grad`` (bool). Relative paths are taken from the
manifest's folder.

Reproduce the first layer of the original network (the user's ``create_identity_lstm``:
7 -> 1024, leaky_rectify, G=10) on X of shape (5, 10000, 7)::

    .venv-lasagne/bin/python bench/studies/oracle/lasagne_oracle.py --original-network \\
        [--seed 0] [--floatX float32] [--input-dropout 0.33] [--params P.npz] \\
        [--input X.npy] [--save-params P.npz] [--save-input X.npy] [--output OUT.npz]

prints a JSON report (NaN count per sequence, first non-finite step, max |h| before it).

Parameter names are Lasagne's: ``W_in_to_<g>`` (n_in, H), ``W_hid_to_<g>`` (H, H),
``b_<g>`` (H,) for g in ingate, forgetgate, cell, outgate, and the peepholes
``W_cell_to_<g>`` (H,) for g in ingate, forgetgate, outgate.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compat  # noqa: E402  (same folder; configures THEANO_FLAGS before theano loads)

GATES = ("ingate", "forgetgate", "cell", "outgate")
PEEPHOLE_GATES = ("ingate", "forgetgate", "outgate")
NONLINEARITIES = ("tanh", "leaky_rectify", "rectify", "sigmoid", "linear")
LOSS_WEIGHTS_KEY = "__loss_weights__"


class OracleError(Exception):
    """A user-facing problem with the inputs; printed as one line."""


# --------------------------------------------------------------------------- parameters


def param_shapes(n_in: int, n_hid: int, peepholes: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for g in GATES:
        shapes[f"W_in_to_{g}"] = (n_in, n_hid)
        shapes[f"W_hid_to_{g}"] = (n_hid, n_hid)
        shapes[f"b_{g}"] = (n_hid,)
    if peepholes:
        for g in PEEPHOLE_GATES:
            shapes[f"W_cell_to_{g}"] = (n_hid,)
    return shapes


def load_params(path: str, peepholes: bool, float_dtype: str) -> tuple[dict, np.ndarray | None]:
    """Read and validate a parameter .npz; return (params, loss_weights or None)."""
    try:
        with np.load(path) as npz:
            raw = {k: np.asarray(npz[k]) for k in npz.files}
    except OSError as e:
        raise OracleError(f"cannot read parameters {path!r}: {e}") from None
    for key in ("W_in_to_ingate", "W_hid_to_ingate"):
        if key not in raw:
            raise OracleError(f"{path}: missing parameter {key!r}")
        if raw[key].ndim != 2:
            raise OracleError(
                f"{path}: parameter {key!r} has shape {raw[key].shape}, expected a matrix"
            )
    n_in, n_hid = raw["W_in_to_ingate"].shape[0], raw["W_hid_to_ingate"].shape[0]
    expected = param_shapes(n_in, n_hid, peepholes)
    params = {}
    for name, shape in expected.items():
        if name not in raw:
            raise OracleError(f"{path}: missing parameter {name!r} (expected shape {shape})")
        if raw[name].shape != shape:
            raise OracleError(
                f"{path}: parameter {name!r} has shape {raw[name].shape}, expected {shape}"
            )
        params[name] = raw[name].astype(float_dtype)
    # Peephole vectors are ignored without peepholes, exactly as LSTMLayer(peepholes=False)
    # ignores Gate.W_cell; any other unknown key is most likely a typo.
    allowed = set(expected) | {LOSS_WEIGHTS_KEY} | set(param_shapes(n_in, n_hid, True))
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise OracleError(f"{path}: unexpected parameter {unknown[0]!r}")
    weights = raw.get(LOSS_WEIGHTS_KEY)
    return params, (None if weights is None else weights.astype(float_dtype))


def load_array(path: str, what: str, ndim: int, float_dtype: str) -> np.ndarray:
    try:
        a = np.load(path)
    except (OSError, ValueError) as e:
        raise OracleError(f"cannot read {what} {path!r}: {e}") from None
    if a.ndim != ndim:
        raise OracleError(f"{what} {path!r} has shape {a.shape}, expected {ndim} dimensions")
    return a.astype(float_dtype)


# --------------------------------------------------------------------------- the layer


class Oracle:
    """Compiles one Theano function per layer configuration and reuses it across cases."""

    def __init__(self, floatX: str = "float64"):
        self.theano, self.lasagne = compat.load(floatX=floatX)
        self.floatX = self.theano.config.floatX
        self._cache: dict[tuple, tuple] = {}
        self.compile_seconds = 0.0

    def nonlinearity(self, name: str):
        nl = self.lasagne.nonlinearities
        table = {
            "tanh": nl.tanh,
            "leaky_rectify": nl.leaky_rectify,
            "rectify": nl.rectify,
            "sigmoid": nl.sigmoid,
            "linear": nl.linear,
        }
        if name not in table:
            raise OracleError(
                f"unknown nonlinearity {name!r}; choose from {', '.join(NONLINEARITIES)}"
            )
        return table[name]

    def build_layer(
        self,
        params,
        n_in,
        n_hid,
        *,
        nonlinearity,
        cell_nonlinearity,
        peepholes,
        grad_clipping,
        with_mask,
        input_dropout=0.0,
    ):
        """Build InputLayer(s) [+ DropoutLayer] + LSTMLayer exactly as a Lasagne user would.

        ``params`` values are numpy arrays or lasagne.init initializers.
        """
        L = self.lasagne
        l_in = L.layers.InputLayer((None, None, n_in), name="input")
        l_mask = L.layers.InputLayer((None, None), name="mask") if with_mask else None
        incoming = l_in
        if input_dropout:
            incoming = L.layers.DropoutLayer(l_in, p=input_dropout)
        sig = L.nonlinearities.sigmoid

        def gate(g, nl):
            return L.layers.Gate(
                W_in=params[f"W_in_to_{g}"],
                W_hid=params[f"W_hid_to_{g}"],
                W_cell=params[f"W_cell_to_{g}"] if peepholes and g != "cell" else None,
                b=params[f"b_{g}"],
                nonlinearity=nl,
            )

        layer = L.layers.LSTMLayer(
            incoming,
            n_hid,
            ingate=gate("ingate", sig),
            forgetgate=gate("forgetgate", sig),
            cell=gate("cell", self.nonlinearity(cell_nonlinearity)),
            outgate=gate("outgate", sig),
            nonlinearity=self.nonlinearity(nonlinearity),
            peepholes=peepholes,
            grad_clipping=grad_clipping if grad_clipping else False,
            mask_input=l_mask,
        )
        return l_in, l_mask, layer

    def _compile(
        self, params, *, nonlinearity, cell_nonlinearity, peepholes, grad_clipping, with_mask, grad
    ):
        T = self.theano.tensor
        t0 = time.perf_counter()
        n_in, n_hid = params["W_in_to_ingate"].shape[0], params["W_hid_to_ingate"].shape[0]
        l_in, l_mask, layer = self.build_layer(
            params,
            n_in,
            n_hid,
            nonlinearity=nonlinearity,
            cell_nonlinearity=cell_nonlinearity,
            peepholes=peepholes,
            grad_clipping=grad_clipping,
            with_mask=with_mask,
        )
        inputs = {l_in: l_in.input_var}
        if with_mask:
            inputs[l_mask] = l_mask.input_var
        hid = self.lasagne.layers.get_output(layer, inputs, deterministic=True)
        fn_inputs = [l_in.input_var] + ([l_mask.input_var] if with_mask else [])
        outputs = [hid]
        shared = {p.name: p for p in layer.get_params()}
        names = list(param_shapes(1, 1, peepholes))
        if grad:
            weights = T.tensor3("loss_weights", dtype=self.floatX)
            loss = T.sum(hid * weights)
            outputs += self.theano.grad(loss, [shared[n] for n in names])
            fn_inputs.append(weights)
        fn = self.theano.function(fn_inputs, outputs)
        self.compile_seconds += time.perf_counter() - t0
        return fn, shared, names

    def run(
        self,
        params,
        x,
        mask=None,
        *,
        nonlinearity="tanh",
        cell_nonlinearity="tanh",
        peepholes=True,
        grad_clipping=0.0,
        grad=False,
        loss_weights=None,
    ) -> dict:
        """Return {"hid": (B,T,H)} and, with grad, {"grad/<name>": ...} as numpy arrays."""
        n_in, n_hid = params["W_in_to_ingate"].shape[0], params["W_hid_to_ingate"].shape[0]
        if x.ndim != 3 or x.shape[2] != n_in:
            raise OracleError(f"input has shape {x.shape}, expected (batch, time, {n_in})")
        if mask is not None and mask.shape != x.shape[:2]:
            raise OracleError(f"mask has shape {mask.shape}, expected {x.shape[:2]}")
        if grad:
            want = x.shape[:2] + (n_hid,)
            if loss_weights is None:
                raise OracleError(f"--grad needs {LOSS_WEIGHTS_KEY!r} of shape {want} in params")
            if loss_weights.shape != want:
                raise OracleError(
                    f"parameter {LOSS_WEIGHTS_KEY!r} has shape "
                    f"{loss_weights.shape}, expected {want}"
                )
        # num_units is baked into the graph (gate slicing); n_in is not, but keep it simple.
        key = (
            n_in,
            n_hid,
            nonlinearity,
            cell_nonlinearity,
            bool(peepholes),
            float(grad_clipping),
            mask is not None,
            bool(grad),
        )
        if key not in self._cache:
            self._cache[key] = self._compile(
                params,
                nonlinearity=nonlinearity,
                cell_nonlinearity=cell_nonlinearity,
                peepholes=peepholes,
                grad_clipping=grad_clipping,
                with_mask=mask is not None,
                grad=grad,
            )
        fn, shared, names = self._cache[key]
        for name in names:
            shared[name].set_value(params[name].astype(self.floatX))
        args = [x.astype(self.floatX)]
        if mask is not None:
            args.append(mask.astype(self.floatX))
        if grad:
            args.append(loss_weights.astype(self.floatX))
        outs = fn(*args)
        result = {"hid": np.asarray(outs[0])}
        if grad:
            for name, g in zip(names, outs[1:], strict=True):
                result[f"grad/{name}"] = np.asarray(g)
        return result


# --------------------------------------------------------------------------- modes


def run_case(oracle: Oracle, case: dict, base: str = ".") -> dict:
    def path(key):
        p = case.get(key)
        return None if p is None else os.path.join(base, p)

    peepholes = bool(case.get("peepholes", True))
    params, weights = load_params(path("params"), peepholes, oracle.floatX)
    x = load_array(path("input"), "input", 3, oracle.floatX)
    mask = load_array(path("mask"), "mask", 2, oracle.floatX) if case.get("mask") else None
    out = oracle.run(
        params,
        x,
        mask,
        nonlinearity=case.get("nonlinearity", "tanh"),
        cell_nonlinearity=case.get("cell_nonlinearity", "tanh"),
        peepholes=peepholes,
        grad_clipping=float(case.get("grad_clipping") or 0.0),
        grad=bool(case.get("grad", False)),
        loss_weights=weights,
    )
    np.savez(path("output"), **out)
    return out


def nonfinite_report(hid: np.ndarray) -> dict:
    """Per-sequence NaN/inf counts, first non-finite step, max |h| before it."""
    seqs = []
    for b in range(hid.shape[0]):
        h = hid[b]
        bad_steps = np.flatnonzero(~np.isfinite(h).all(axis=1))
        first = int(bad_steps[0]) if bad_steps.size else None
        before = h[:first] if first is not None else h
        seqs.append(
            {
                "nan": int(np.isnan(h).sum()),
                "inf": int(np.isinf(h).sum()),
                "first_nonfinite_step": first,
                "max_abs_h_before": float(np.abs(before).max()) if before.size else None,
            }
        )
    return {
        "outputs_per_sequence": int(hid.shape[1] * hid.shape[2]),
        "nan_per_sequence": [s["nan"] for s in seqs],
        "sequences": seqs,
    }


def original_network_params(
    oracle: Oracle, n_in: int, n_hid: int, noiselvl: float, G: float, orig_inp: int | None
) -> dict:
    """The original network's first layer: the question's ``create_identity_lstm`` built with
    Lasagne's own initializers and RNG.

    Samples in LSTMLayer's order (W_in, W_hid, b per gate, then peepholes), then applies
    the question's edits: ingate/outgate bias +G on the first ``orig_inp`` units, forget bias
    -G there and +G on the rest, and +1 on the diagonal of W_in_to_cell.
    """
    L = oracle.lasagne
    init = L.init
    spec = {}
    for g in GATES:
        spec[f"W_in_to_{g}"] = init.GlorotNormal(noiselvl)
        spec[f"W_hid_to_{g}"] = init.GlorotNormal(noiselvl)
        spec[f"b_{g}"] = init.Constant(0.0)
        if g != "cell":
            spec[f"W_cell_to_{g}"] = init.Normal(noiselvl)
    _, _, layer = oracle.build_layer(
        spec,
        n_in,
        n_hid,
        nonlinearity="leaky_rectify",
        cell_nonlinearity="leaky_rectify",
        peepholes=True,
        grad_clipping=0.0,
        with_mask=False,
    )
    params = {
        p.name: p.get_value() for p in layer.get_params() if p.name in param_shapes(1, 1, True)
    }
    k = n_in if orig_inp is None else orig_inp
    params["b_ingate"][:k] += G
    params["b_forgetgate"][:k] -= G
    params["b_forgetgate"][k:] += G
    for i in range(k):
        params["W_in_to_cell"][i, i] += 1.0
    params["b_outgate"][:k] += G
    return params


def original_network(args) -> dict:
    oracle = Oracle(floatX=args.floatX)
    L = oracle.lasagne
    L.random.set_rng(np.random.RandomState(args.seed))
    if args.params:
        params, _ = load_params(args.params, True, oracle.floatX)
    else:
        params = original_network_params(oracle, 7, 1024, noiselvl=0.01, G=10.0, orig_inp=None)
    n_in = params["W_in_to_ingate"].shape[0]
    if args.input:
        x = load_array(args.input, "input", 3, oracle.floatX)
    else:
        x = np.random.RandomState(args.seed + 1).random_sample((5, 10000, n_in))
        x = x.astype(oracle.floatX)
    if args.save_params:
        np.savez(args.save_params, **params)
    if args.save_input:
        np.save(args.save_input, x)
    mask = np.ones(x.shape[:2], dtype=oracle.floatX)  # the question passes an all-ones mask
    nl = args.nonlinearity or "leaky_rectify"
    cnl = args.cell_nonlinearity or "leaky_rectify"
    t0 = time.perf_counter()
    if args.input_dropout:
        # The question calls get_output(lstm1, determistic=True): the misspelt keyword is
        # swallowed, so its DropoutLayer(p=0.33) on the input stays active.
        l_in, l_mask, layer = oracle.build_layer(
            params,
            n_in,
            params["W_hid_to_ingate"].shape[0],
            nonlinearity=nl,
            cell_nonlinearity=cnl,
            peepholes=True,
            grad_clipping=0.0,
            with_mask=True,
            input_dropout=args.input_dropout,
        )
        hid = L.layers.get_output(layer, deterministic=False)
        fn = oracle.theano.function([l_in.input_var, l_mask.input_var], hid)
        hid_v = np.asarray(fn(x, mask))
    else:
        hid_v = oracle.run(params, x, mask, nonlinearity=nl, cell_nonlinearity=cnl, peepholes=True)[
            "hid"
        ]
    seconds = time.perf_counter() - t0
    if args.output:
        np.savez(args.output, hid=hid_v)
    report = {
        "floatX": oracle.floatX,
        "seed": args.seed,
        "input_shape": list(x.shape),
        "n_hid": int(params["W_hid_to_ingate"].shape[0]),
        "nonlinearity": nl,
        "cell_nonlinearity": cnl,
        "input_dropout": args.input_dropout,
        "seconds": round(seconds, 2),
    }
    report.update(nonfinite_report(hid_v))
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="lasagne_oracle.py",
        description="Run real Lasagne 0.1 LSTMLayer (Theano 1.0.5, CPU) as a reference.",
    )
    ap.add_argument("--params", help=".npz with Lasagne-named parameters")
    ap.add_argument("--input", help=".npy of shape (batch, time, n_in)")
    ap.add_argument("--mask", help=".npy of shape (batch, time); passed as mask_input")
    ap.add_argument("--output", help=".npz to write (hid, grad/<name>)")
    ap.add_argument(
        "--nonlinearity",
        choices=NONLINEARITIES,
        default=None,
        help="layer output nonlinearity (default tanh; original network leaky_rectify)",
    )
    ap.add_argument(
        "--cell-nonlinearity",
        choices=NONLINEARITIES,
        default=None,
        help="cell gate nonlinearity (default tanh; original network leaky_rectify)",
    )
    ap.add_argument("--no-peepholes", action="store_true")
    ap.add_argument(
        "--grad-clipping", type=float, default=0.0, help="LSTMLayer grad_clipping (0 = False)"
    )
    ap.add_argument(
        "--grad",
        action="store_true",
        help="also write d/dparam sum(hid * params['__loss_weights__'])",
    )
    ap.add_argument("--floatX", default="float64", choices=("float64", "float32"))
    ap.add_argument("--cases", metavar="MANIFEST.json", help="run a list of cases at once")
    ap.add_argument(
        "--original-network",
        action="store_true",
        help="the original network's 7->1024 leaky_rectify layer; JSON report on stdout",
    )
    ap.add_argument("--seed", type=int, default=0, help="random seed for --original-network")
    ap.add_argument(
        "--input-dropout",
        type=float,
        default=0.0,
        help="--original-network: active input DropoutLayer p (the question's typo: 0.33)",
    )
    ap.add_argument("--save-params", help="--original-network: write the parameters used")
    ap.add_argument("--save-input", help="--original-network: write the input used")
    args = ap.parse_args(argv)

    try:
        if args.original_network:
            print(json.dumps(original_network(args), indent=1))
            return 0
        if args.cases:
            with open(args.cases) as f:
                cases = json.load(f)
            base = os.path.dirname(os.path.abspath(args.cases))
            oracle = Oracle(floatX=args.floatX)
            t0 = time.perf_counter()
            for i, case in enumerate(cases):
                try:
                    run_case(oracle, case, base)
                except OracleError as e:
                    raise OracleError(f"case {i}: {e}") from None
            print(
                f"lasagne_oracle: {len(cases)} cases in {time.perf_counter() - t0:.1f} s "
                f"({oracle.compile_seconds:.1f} s compiling)",
                file=sys.stderr,
            )
            return 0
        for flag in ("params", "input", "output"):
            if not getattr(args, flag):
                raise OracleError(f"--{flag} is required (or use --cases / --original-network)")
        oracle = Oracle(floatX=args.floatX)
        run_case(
            oracle,
            {
                "params": args.params,
                "input": args.input,
                "mask": args.mask,
                "output": args.output,
                "nonlinearity": args.nonlinearity or "tanh",
                "cell_nonlinearity": args.cell_nonlinearity or "tanh",
                "peepholes": not args.no_peepholes,
                "grad_clipping": args.grad_clipping,
                "grad": args.grad,
            },
        )
        return 0
    except OracleError as e:
        print(f"lasagne_oracle: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
