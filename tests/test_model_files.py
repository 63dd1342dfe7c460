"""Saving and loading: round trips, and every bad file gets a clear error and changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bp import nn
from tinygrad_bp.nn import ModelFileError


def test_round_trip_and_across_engines(tmp_path):
    m = nn.MLP([2, 5, 1], "tanh", seed=1)
    path = m.save(tmp_path / "m.npz")
    fresh = nn.MLP([2, 5, 1], "tanh", seed=2)
    fresh.load(path)
    for (a, b, _), (c, d, _) in zip(m.layers(), fresh.layers()):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    scalar = nn.ValueMLP([2, 5, 1], "tanh", seed=3)
    scalar.load(path)
    np.testing.assert_array_equal(scalar.layers()[0][0], m.layers()[0][0])
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"__meta__", "layer1.weight", "layer1.bias", "layer2.weight",
                                   "layer2.bias"}  # fmt: skip


def snapshot(model):
    return [x.copy() for W, b, _ in model.layers() for x in (W, b)]


@pytest.mark.parametrize(
    "make_bad,expect",
    [
        (lambda p: p.with_name("missing.npz"), "no such file"),
        (lambda p: _truncate(p), "truncated or corrupt"),
        (lambda p: _garbage(p), "truncated or corrupt"),
        (lambda p: _other_arch(p, [2, 4, 1]), r"layer1.weight has shape \(4, 2\)"),
        (lambda p: _other_arch(p, [2, 5, 5, 1]), "unexpected layer3"),
        (lambda p: _no_meta(p), "no architecture record"),
    ],
)
def test_bad_files_leave_the_model_as_it_was(tmp_path, make_bad, expect):
    good = nn.MLP([2, 5, 1], seed=1).save(tmp_path / "good.npz")
    bad = make_bad(good)
    model = nn.MLP([2, 5, 1], seed=7)
    before = snapshot(model)
    with pytest.raises(ModelFileError, match=expect) as exc:
        model.load(bad)
    assert str(bad.name) in str(exc.value)
    for a, b in zip(before, snapshot(model)):
        np.testing.assert_array_equal(a, b)


def _truncate(p):
    data = p.read_bytes()
    out = p.with_name("truncated.npz")
    out.write_bytes(data[: len(data) // 2])
    return out


def _garbage(p):
    out = p.with_name("garbage.npz")
    out.write_bytes(b"this is not a zip file at all")
    return out


def _other_arch(p, sizes):
    return nn.MLP(sizes).save(p.with_name(f"other{len(sizes)}{sizes[1]}.npz"))


def _no_meta(p):
    out = p.with_name("nometa.npz")
    np.savez(out, **{"layer1.weight": np.zeros((5, 2))})
    return out


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "pickle.npz"
    np.savez(path, __meta__=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="pickle.npz"):
        nn.MLP([2, 5, 1]).load(path)
