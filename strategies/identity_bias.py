"""The original ``create_identity_lstm``, ported exactly: big gate biases, leaky_rectify.

What the user wrote (Theano/Lasagne), per layer with ``orig_inp = C`` (the 7 channels) and G = 10:

- every ``W_in_to_<gate>`` and ``W_hid_to_<gate>`` ~ ``GlorotNormal(0.01)``: 0.01 is the *gain*,
  so σ = 0.01·sqrt(2 / (fan_in + fan_out)) (≈ 3e-4 for 1024 units, not 0.01 as intended);
- peepholes ``W_cell_to_<gate>`` ~ ``Normal(0.01)`` (std 0.01); biases start at 0;
- first ``orig_inp`` units: b_ingate += G, b_outgate += G, b_forgetgate −= G (pass x through);
- the other units: b_forgetgate += G ("to help it remember stuff");
- ``W_in_to_cell[i, i] += 1`` for i < orig_inp (the cell gate copies x);
- cell-gate and hidden nonlinearity ``leaky_rectify`` (Lasagne's LeakyRectify(0.01)).

Intended: h_t ≈ x_t on the first C units. Why it produces NaNs before any training (see
``identity-bias-fixed`` and ``python -m bench lasagne-nans``): the other units, with forget bias
+10 (memory ≈ 22 000 steps) and open input/output gates, integrate their input; leaky_rectify
lets positive drift through almost unchanged and the unbounded h feeds back through W_hid, so
they grow exponentially; with Lasagne 0.1's output-peephole bug h ∝ w_co·c², which blows up in
finite time to inf and then NaN (inf − inf inside leaky_rectify's ½(1+a)x + ½(1−a)|x|).
"""

import jax.numpy as jnp

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "create_identity_lstm, an identity-like Lasagne 0.1 LSTM (the question this benchmark "
    "started from); "
    "Le, Jaitly & Hinton (2015), A simple way to initialize recurrent networks of rectified "
    "linear units, arXiv:1504.00941 (the identity idea)"
)

G = 10.0
NOISE = 0.01


NONLINEARITIES = {"nonlinearity": "leaky_rectify", "cell_nonlinearity": "leaky_rectify"}


def identity_layer(params: dict, orig_inp: int, unused_forget_bias: float) -> dict:
    """Apply the original bias and identity edits to one layer's freshly drawn parameters."""
    n_in, n_hid = params["W_in_to_cell"].shape
    k = min(orig_inp, n_in, n_hid)
    used = jnp.arange(n_hid) < k
    out = dict(params)
    out["b_ingate"] = params["b_ingate"] + jnp.where(used, G, 0.0)
    out["b_outgate"] = params["b_outgate"] + jnp.where(used, G, 0.0)
    out["b_forgetgate"] = params["b_forgetgate"] + jnp.where(used, -G, unused_forget_bias)
    out["W_in_to_cell"] = params["W_in_to_cell"].at[jnp.arange(k), jnp.arange(k)].add(1.0)
    return out


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    params = init.stack_params(key, sizes, W_in=init.glorot_normal(NOISE),
                               W_hid=init.glorot_normal(NOISE), W_cell=init.normal(NOISE))
    return [identity_layer(layer, sizes[0], unused_forget_bias=+G) for layer in params]
