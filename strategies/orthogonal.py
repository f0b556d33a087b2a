"""Orthogonal recurrent matrices per gate (Saxe et al.), Glorot input weights, zero biases.

Sets each ``W_hid_to_<gate>`` (H×H) to a Haar-random orthogonal matrix Q (QR of a Gaussian
matrix, Q·sign(diag R)), so every singular value of each gate's recurrent block is exactly 1;
``W_in_to_<gate>`` GlorotUniform; biases 0; peepholes N(0, 0.1²); tanh.
"""

from bench import init
from bench.init import Data, Key, Params, RunConfig, Sizes

CITATION = (
    "Saxe, McClelland & Ganguli (2013), Exact solutions to the nonlinear dynamics of learning "
    "in deep linear neural networks, arXiv:1312.6120"
)


def init_params(key: Key, sizes: Sizes, config: RunConfig, data: Data) -> Params:
    return init.stack_params(key, sizes, W_in=init.glorot_uniform(), W_hid=init.orthogonal())
