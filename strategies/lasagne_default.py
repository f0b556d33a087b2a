"""Lasagne 0.1's Gate defaults: N(0, 0.1²) on every weight and peephole, zero biases, tanh.

``Gate(W_in=Normal(0.1), W_hid=Normal(0.1), W_cell=Normal(0.1), b=Constant(0.))`` for all four
gates. The recurrent block of one gate then has spectral radius ≈ 0.1·sqrt(H) (≈ 3.2 at H = 1024,
0.8 at H = 64), so large layers start in the saturated, exploding regime.
"""

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = "Lasagne 0.1 (2015), lasagne/layers/recurrent.py, class Gate; lasagne.init.Normal"


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    return init.stack_params(key, sizes, W_in=init.normal(0.1), W_hid=init.normal(0.1),
                             W_cell=init.normal(0.1))
