"""Glorot/Xavier uniform weights, zero biases, tanh: the harness's default.

Sets every ``W_in_to_<gate>`` and ``W_hid_to_<gate>`` to U(±sqrt(6 / (fan_in + fan_out)))
(Lasagne's ``GlorotUniform()``, gain 1, each gate matrix on its own), all biases to 0, the
peepholes ``W_cell_to_<gate>`` to N(0, 0.1²) (Lasagne's ``Gate`` default, which a Lasagne user
passing only ``W_in``/``W_hid`` keeps), cell and hidden nonlinearity tanh.
"""

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "Glorot & Bengio (2010), Understanding the difficulty of training deep feedforward "
    "neural networks, AISTATS"
)


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    return init.stack_params(key, sizes, W_in=init.glorot_uniform(), W_hid=init.glorot_uniform())
