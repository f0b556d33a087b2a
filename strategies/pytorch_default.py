"""PyTorch ``nn.LSTM`` defaults: U(±1/√H) on everything, two summed biases, no peepholes.

Every ``W_in_to_<gate>`` and ``W_hid_to_<gate>`` ~ U(−k, k) with k = 1/sqrt(H); PyTorch keeps two
bias vectors ``b_ih`` and ``b_hh``, each U(−k, k), that are added, so ``b_<gate>`` is their sum
(a triangular distribution on (−2k, 2k)); no forget-gate offset; no peepholes (PyTorch's cell has
none, so the ``W_cell_to_*`` parameters are absent); tanh.
"""

import jax

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = "PyTorch torch.nn.LSTM documentation, 'Variables' section (reset_parameters)"


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    params = []
    for k, n_in, n_hid in zip(jax.random.split(key, len(sizes) - 1), sizes[:-1], sizes[1:],
                              strict=True):
        u = init.uniform(n_hid ** -0.5)
        k_w, k_b = jax.random.split(k)
        layer = init.lstm_params(k_w, n_in, n_hid, W_in=u, W_hid=u, W_cell=None, b=u)
        extra = init.lstm_params(k_b, n_in, n_hid, W_in=init.ZERO, W_hid=init.ZERO,
                                 W_cell=None, b=u)
        for name in layer:
            if name.startswith("b_"):
                layer[name] = layer[name] + extra[name]  # b_ih + b_hh
        params.append(layer)
    return params
