"""Value and Tensor on the slides' 2-3-1 network: the same gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bp.slides.twolayer import TwoLayerNet


@pytest.mark.parametrize("seed", range(10))
def test_value_and_tensor_agree_on_the_slides_network(seed):
    net = TwoLayerNet.random(2, 3, 1, "sigmoid", "linear", seed=seed)
    rng = np.random.default_rng(100 + seed)
    x, d = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, 1)
    by_value = net.value_gradients(x, d)
    by_tensor = net.tensor_gradients(x, d)
    assert list(by_value) == net.parameter_names
    for name in net.parameter_names:
        assert by_value[name] == pytest.approx(by_tensor[name], rel=1e-14, abs=1e-16), name
