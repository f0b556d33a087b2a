"""Glorot weights with forget-gate bias 1, so the cell starts out remembering (f ≈ σ(1) = 0.73).

As ``glorot`` (GlorotUniform W_in and W_hid, peepholes N(0, 0.1²), tanh) but ``b_forgetgate = 1``;
other biases 0.
"""

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "Gers, Schmidhuber & Cummins (2000), Learning to forget, Neural Computation 12(10); "
    "Jozefowicz, Zaremba & Sutskever (2015), An empirical exploration of recurrent network "
    "architectures, ICML"
)


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    params = init.stack_params(key, sizes, W_in=init.glorot_uniform(),
                               W_hid=init.glorot_uniform())
    for layer in params:
        layer["b_forgetgate"] = layer["b_forgetgate"] + 1.0
    return params
