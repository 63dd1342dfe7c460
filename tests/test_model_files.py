"""Model files: rebuilt from the file alone, versioned, atomic, and every bad file refused."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bp import files, nn
from tinygrad_bp.nn import ModelFileError
from tinygrad_bp.nn.modelfile import VERSION

X = np.random.default_rng(5).uniform(-2, 2, (7, 3))


def outputs(model, X=X):
    from tinygrad_bp.nn.train import predict

    return predict(model, X)


@pytest.mark.parametrize("cls", [nn.MLP, nn.ValueMLP])
@pytest.mark.parametrize(
    "hidden", ["tanh", "sigmoid", "relu", "softplus", "leaky_relu(0.123456789)", "elu(1.7)"]
)
def test_load_rebuilds_the_saved_network(tmp_path, cls, hidden):
    if not hasattr(nn.ValueMLP([1, 1]).parameters()[0], hidden.split("(")[0]):
        pytest.skip(f"the engine has no {hidden} method yet")
    m = cls([3, 4, 2, 2], [hidden, "tanh"], "sigmoid", seed=3)
    path = m.save(tmp_path / "m.npz")
    again = cls.load(path)
    assert type(again) is cls
    assert again.sizes == [3, 4, 2, 2] and again.activations == m.activations
    assert again.acts[0].params == m.acts[0].params  # parameters kept exactly
    np.testing.assert_array_equal(outputs(again), outputs(m))
    assert type(nn.load_model(path)) is cls


def test_either_engine_reads_the_others_file(tmp_path):
    m = nn.MLP([3, 5, 1], "tanh", seed=1)
    v = nn.ValueMLP.load(m.save(tmp_path / "t.npz"))
    for (a, b, _), (c, d, _) in zip(m.layers(), v.layers()):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    np.testing.assert_allclose(outputs(v), outputs(m), rtol=1e-14)


def test_float32_models_keep_their_dtype(tmp_path):
    m = nn.MLP([3, 4, 1], "tanh", dtype="float32", seed=2)
    again = nn.MLP.load(m.save(tmp_path / "f.npz"))
    assert again.dtype == "float32" and outputs(again).dtype == np.float32
    np.testing.assert_array_equal(outputs(again), outputs(m))
    with pytest.raises(ValueError, match="float64"):
        nn.ValueMLP([2, 1], dtype="float32")


def test_the_file_records_the_architecture(tmp_path):
    path = nn.MLP([2, 3, 1], "leaky_relu(0.2)", "linear").save(tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {
            "__meta__",
            "layer1.weight",
            "layer1.bias",
            "layer2.weight",
            "layer2.bias",
        }
        meta = json.loads(str(data["__meta__"]))
    assert meta == {
        "format": "tinygrad_bp model",
        "version": 1,
        "engine": "tensor",
        "sizes": [2, 3, 1],
        "activations": [
            {"name": "leaky_relu", "params": {"slope": 0.2}},
            {"name": "linear", "params": {}},
        ],
        "dtype": "float64",
    }


def test_loading_into_another_architecture_is_an_error(tmp_path):
    path = nn.MLP([2, 5, 1], "tanh", seed=1).save(tmp_path / "tanh.npz")
    model = nn.MLP([2, 5, 1], "sigmoid", seed=7)
    before = snapshot(model)
    with pytest.raises(ModelFileError, match=r"2-5-1 tanh/linear.*2-5-1 sigmoid/linear"):
        model.load_state_from(path)
    assert all(np.array_equal(a, b) for a, b in zip(before, snapshot(model)))
    same = nn.ValueMLP([2, 5, 1], "tanh", seed=9)
    same.load_state_from(path)
    np.testing.assert_array_equal(same.layers()[0][0], nn.MLP.load(path).layers()[0][0])


def test_load_on_an_instance_is_refused_not_silently_ignored(tmp_path):
    path = nn.MLP([2, 3, 1]).save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="load_state_from"):
        nn.MLP([2, 3, 1]).load(path)


def _with_meta(tmp_path, name, change):
    path = nn.MLP([2, 3, 1]).save(tmp_path / "good.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    change(meta)
    arrays["__meta__"] = np.array(json.dumps(meta))
    out = tmp_path / name
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize("version,words", [(0, "older"), (VERSION + 1, "newer")])
def test_other_format_versions_name_both_versions(tmp_path, version, words):
    path = _with_meta(tmp_path, "v.npz", lambda m: m.update(version=version))
    with pytest.raises(ModelFileError, match=f"version {version} \\({words}\\).*version {VERSION}"):
        nn.MLP.load(path)


def test_files_without_a_version_are_older(tmp_path):
    path = _with_meta(tmp_path, "old.npz", lambda m: m.pop("version"))
    with pytest.raises(ModelFileError, match="version 0 \\(older\\)"):
        nn.MLP.load(path)


@pytest.mark.parametrize(
    "change,expect",
    [
        (lambda m: m.update(sizes=[2, 4, 1]), r"layer1.weight is float64 \(3, 2\).*needs"),
        (lambda m: m.update(sizes=[2, 3, 3, 1]), "3 layers with 2 activations"),
        (
            lambda m: m.update(sizes=[2, 3, 1, 1], activations=[m["activations"][0]] * 3),
            "missing layer3.weight, layer3.bias",
        ),
        (lambda m: m.update(activations=[{"name": "softsign", "params": {}}] * 2), "softsign"),
        (lambda m: m["activations"][0].update(params={"slope": 1}), "takes no parameters"),
        (lambda m: m.update(dtype="int8"), "corrupt.*dtype 'int8'"),
        (lambda m: m.update(engine="gpu"), "corrupt.*engine 'gpu'"),
        (lambda m: m.update(sizes=[2, 0, 1]), "corrupt.*positive whole numbers"),
        (
            lambda m: m.update(sizes=[2] * 5000, activations=m["activations"][:1] * 4999),
            r"recorded 2-2-2-2-...-2-2 \(5000\) tanh/.*: missing layer3.weight, .* and 9988 more"
            r"; give a file written by model.save or tinygrad-bp train --save$",
        ),
        (lambda m: m.update(dtype="float32"), "needs float32"),
    ],
)
def test_a_record_that_does_not_fit_the_weights_is_refused(tmp_path, change, expect):
    path = _with_meta(tmp_path, "bad.npz", change)
    with pytest.raises(ModelFileError, match=expect) as exc:
        nn.MLP.load(path)
    assert "bad.npz" in str(exc.value)


def snapshot(model):
    return [x.copy() for W, b, _ in model.layers() for x in (W, b)]


def _truncate(p):
    data = p.read_bytes()
    out = p.with_name("truncated.npz")
    out.write_bytes(data[: len(data) // 2])
    return out


def _garbage(p):
    out = p.with_name("garbage.npz")
    out.write_bytes(b"this is not a zip file at all")
    return out


def _npy(p):
    out = p.with_name("array.npy")
    np.save(out, np.zeros(3))
    return out


def _no_meta(p):
    out = p.with_name("nometa.npz")
    np.savez(out, **{"layer1.weight": np.zeros((5, 2))})
    return out


def _pickled(p):
    out = p.with_name("pickle.npz")
    np.savez(out, __meta__=np.array([{"evil": 1}], dtype=object))
    return out


def _nan_weights(p):
    out = p.with_name("nan.npz")
    with np.load(p, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["layer1.bias"] = np.full(5, np.nan)
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    "make_bad,expect",
    [
        (lambda p: p.with_name("missing.npz"), "no such file"),
        (lambda p: p.parent, "is a directory"),
        (_truncate, "truncated or corrupt"),
        (_garbage, "not an .npz archive"),
        (_npy, "a single .npy array"),
        (_no_meta, "no architecture record"),
        (_pickled, "only float arrays"),
        (_nan_weights, "NaN or infinity"),
    ],
)
def test_bad_files_are_refused_and_change_nothing(tmp_path, make_bad, expect):
    good = nn.MLP([2, 5, 1], seed=1).save(tmp_path / "good.npz")
    bad = make_bad(good)
    model = nn.MLP([2, 5, 1], seed=7)
    before = snapshot(model)
    for load in (nn.MLP.load, nn.ValueMLP.load, model.load_state_from):
        with pytest.raises(ModelFileError, match=expect) as exc:
            load(bad)
        assert str(bad.name) in str(exc.value)
    assert all(np.array_equal(a, b) for a, b in zip(before, snapshot(model)))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_and_fifos_are_refused_without_blocking(tmp_path):
    with pytest.raises(ModelFileError, match="not a regular file"):
        nn.MLP.load("/dev/zero")
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match="not a regular file"):
        nn.MLP.load(fifo)


def test_large_files_are_refused_naming_the_limit(tmp_path):
    path = nn.MLP([20, 50, 1]).save(tmp_path / "m.npz")
    with pytest.raises(ModelFileError, match="over the limit of 1000 bytes.*max_bytes="):
        nn.MLP.load(path, max_bytes=1000)
    assert nn.MLP.load(path, max_bytes=10**6).sizes == [20, 50, 1]


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, monkeypatch):
    path = tmp_path / "bomb.npz"
    buf = io.BytesIO()
    np.save(buf, np.zeros(8 * 2**20 // 8))  # 8 MiB of zeros: deflates to a few KiB
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("layer1.weight.npy", buf.getvalue())
    assert path.stat().st_size < 100_000
    inflated = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile, "open", lambda zf, *a, **k: inflated.append(a) or real_open(zf, *a, **k)
    )
    with pytest.raises(ModelFileError, match="would unpack to 8 MiB.*limit of 1 MiB"):
        nn.MLP.load(path, max_bytes=2**20)
    assert inflated == []


def test_an_array_header_larger_than_its_member_is_refused(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    path = tmp_path / "liar.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("layer1.weight.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(ModelFileError, match="claims 8000000000000 bytes"):
        nn.MLP.load(path)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = nn.MLP([2, 3, 1], seed=1).save(tmp_path / "m.npz")
    old = path.read_bytes()

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(ModelFileError, match="No space left"):
        nn.MLP([2, 3, 1], seed=2).save(path)
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary file left


def test_non_finite_weights_are_not_saved(tmp_path):
    m = nn.MLP([2, 3, 1])
    m.net.modules[0].W.data[0, 0] = np.nan
    with pytest.raises(ModelFileError, match="layer1.weight holds NaN"):
        m.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_a_huge_file_is_not_rebuilt_as_values(tmp_path, monkeypatch):
    path = nn.MLP([30, 40, 1]).save(tmp_path / "m.npz")  # 1,281 parameters
    monkeypatch.setattr(nn.ValueMLP, "MAX_FILE_PARAMETERS", 1000)
    with pytest.raises(ModelFileError, match="1,281 parameters.*MLP.load"):
        nn.ValueMLP.load(path)
    assert nn.MLP.load(path).sizes == [30, 40, 1]


def test_a_deeply_nested_record_is_a_clear_error(tmp_path):
    path = tmp_path / "deep.npz"
    np.savez(path, __meta__=np.array("[" * 100_000 + "]" * 100_000))
    with pytest.raises(ModelFileError, match="not JSON"):
        nn.MLP.load(path)


def test_copy_moves_a_model_between_engines(tmp_path):
    m = nn.MLP([3, 4, 2], "tanh", "sigmoid", dtype="float32", seed=4)
    v = m.copy("value")
    assert type(v) is nn.ValueMLP and v.dtype == "float64" and v.activations == m.activations
    np.testing.assert_allclose(outputs(v), outputs(m), rtol=1e-6)
    assert nn.ValueMLP.load(m.save(tmp_path / "f32.npz")).dtype == "float64"
    back = v.copy("tensor")
    np.testing.assert_allclose(outputs(back), outputs(v), rtol=1e-14)
    assert m.copy().dtype == "float32"
    with pytest.raises(ValueError, match="engine must be one of"):
        m.copy("gpu")


def _available_activations():
    from tinygrad_bp.engine.ops import ACTIVATIONS

    probe = nn.MLP([1, 1]).net.modules[0].W
    return [a for a in ACTIVATIONS if hasattr(probe, a)]


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    data=st.data(),
    dtype=st.sampled_from(["float64", "float32"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_network_survives_a_round_trip(tmp_path_factory, sizes, data, dtype, seed):
    acts = data.draw(st.lists(st.sampled_from(_available_activations()), min_size=len(sizes) - 1,
                              max_size=len(sizes) - 1))  # fmt: skip
    m = nn.MLP(sizes, acts[:-1], acts[-1], seed=seed, dtype=dtype)
    path = m.save(tmp_path_factory.mktemp("rt") / "m.npz")
    again = nn.load_model(path)
    assert (again.sizes, again.activations, again.dtype) == (m.sizes, m.activations, m.dtype)
    for key, value in m.state_dict().items():
        assert again.state_dict()[key].tobytes() == value.tobytes()  # bit for bit
    X = np.random.default_rng(seed).uniform(-3, 3, (4, sizes[0]))
    np.testing.assert_array_equal(outputs(again, X), outputs(m, X))
