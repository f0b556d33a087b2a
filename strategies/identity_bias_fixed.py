"""The original identity start made stable on 10 000-step sequences (three changes, reasons below).

Same draw as ``identity-bias`` (GlorotNormal(0.01) weights, Normal(0.01) peepholes, G = 10,
first C units pass x through with b_i = b_o = +G, b_f = −G and W_in_to_cell[i, i] += 1), except:

1. the *unused* units get forget bias 0 instead of +G. With +G they are integrators with a memory
   of ≈ 1/(1 − σ(10)) ≈ 22 000 steps; at 0 their memory is ≈ 2 steps, so nothing accumulates;
2. hidden nonlinearity tanh instead of leaky_rectify: h is bounded by 1, which breaks the
   positive-feedback loop h → W_hid → c → h (and the c² blow-up of Lasagne 0.1's peephole bug);
   tanh(x) ≈ x for |x| ≪ 1 (the data have std 0.25), so the identity intent survives;
3. cell-gate nonlinearity linear instead of leaky_rectify, so negative inputs pass through too
   (the original inputs were in [0, 1); leaky_rectify keeps only 1 % of a negative value).

Result: h_t[:C] = σ(G)·tanh(σ(G)·x_t + O(noise)) on the first layer — the identity to within
σ(10) = 0.99995 and tanh's curvature — and every state stays bounded at init.
"""

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes
from strategies.identity_bias import NOISE, identity_layer

CITATION = (
    "This project (lstm-init-bench), after create_identity_lstm (strategy identity-bias); "
    "Lasagne issue #448, https://github.com/Lasagne/Lasagne/issues/448 (the peephole order)"
)


NONLINEARITIES = {"nonlinearity": "tanh", "cell_nonlinearity": "linear"}


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    params = init.stack_params(key, sizes, W_in=init.glorot_normal(NOISE),
                               W_hid=init.glorot_normal(NOISE), W_cell=init.normal(NOISE))
    return [identity_layer(layer, sizes[0], unused_forget_bias=0.0) for layer in params]
