"""The slides' 2-3-1 network: autodiff (both engines) against the closed-form rules.

Run: python examples/slides_network.py
"""

import numpy as np

from tinygrad_bp.slides.compare import compare
from tinygrad_bp.slides.twolayer import TwoLayerNet

# sigmoid hidden units, linear output (purelin), E = 1/2 e^2, as in the slides
net = TwoLayerNet.random(n_in=2, n_hidden=3, n_out=1, hidden="sigmoid", output="linear", seed=0)
x = np.array([0.5, -0.3])
d = np.array([0.8])

# dE/dp four ways for every parameter: Value engine, Tensor engine, rules (1)-(4), finite diffs
result = compare(net, x, d, eta=0.5)
print(result.table())

# The same rule, written out by hand for w11 (rule 3 with a linear output, f'(v4) = 1):
#   dE/dw11 = -(d - y) * w41 * f(v1) (1 - f(v1)) * x1
q = result.forward
by_hand = -(d[0] - q["y4"]) * net.W2[0, 0] * q["y_h1"] * (1 - q["y_h1"]) * x[0]
print(f"\nrule (3) by hand for w11: {by_hand:.12g}")
assert result.agree
assert abs(by_hand - result.rows[0].value_engine) < 1e-12
