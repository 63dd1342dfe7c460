"""`trace` on Tensors: the replay gives the eager engine's numbers bit for bit, or refuses."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tinygrad_bp import Tensor, TraceError, detect_anomaly, no_grad, trace
from tinygrad_bp.engine.ops import BINARY, UNARY
from tinygrad_bp.engine.tensor_trace import TensorTrace

from .pausing import while_paused
from .randgraph import draw_steps

SHAPES = [(2, 3), (3,), (1, 3), (2, 1), ()]
# each takes a (2, 3) tensor
STRUCTURAL = {
    "sum": lambda t: t.sum(),
    "sum0": lambda t: t.sum(axis=0),
    "mean-1": lambda t: t.mean(axis=-1, keepdims=True),
    "max1": lambda t: t.max(axis=1),
    "reshape": lambda t: t.reshape(3, 2),
    "T": lambda t: t.T,
    "index": lambda t: t[np.array([1, 0, 1]), 1:],
    "log_softmax": lambda t: t.log_softmax(axis=-1),
}
REFUSALS = (ValueError, ZeroDivisionError, OverflowError)
# `pytest --long` runs 10^4 programs; the CI size is 80
EXAMPLES = max(80, int(os.environ.get("TINYGRAD_BP_FUZZ_EXAMPLES", "80")))


@st.composite
def programs(draw):
    """Leaf shapes and dtypes, and steps on a growing pool of tensors."""
    n = draw(st.integers(1, 3))
    shapes = [(2, 3)] + [draw(st.sampled_from(SHAPES)) for _ in range(n - 1)]
    dtypes = [draw(st.sampled_from(["float64", "float32"])) for _ in range(n)]
    kinds = {
        "unary": (st.sampled_from(sorted(UNARY)), 1),
        "binary": (st.sampled_from(sorted(BINARY)), 2),
        "pow": (st.sampled_from([0, 1, 2, 3, 0.5, -1]), 1),
        "structural": (st.sampled_from(sorted(STRUCTURAL)), 1),
        "matmul": (st.none(), 2),
        "const": (st.floats(-2, 2), 1),
    }
    steps = draw_steps(draw, n, kinds, max_steps=7)
    return shapes, dtypes, steps


# mostly positive numbers, so that log, sqrt and ** -1 refuse the examples less often
VALUES = st.one_of(st.floats(0.125, 2.0), st.floats(-2.0, 2.0))


def leaf_values(draw, shapes, dtypes):
    arrays = []
    for shape, dtype in zip(shapes, dtypes):
        size = int(np.prod(shape))
        values = draw(st.lists(VALUES, min_size=size, max_size=size))
        arrays.append(np.array(values, dtype=dtype).reshape(shape))
    return arrays


def run(steps, pool):
    pool = list(pool)
    full = Tensor(np.zeros((2, 3)))
    for kind, arg, idx in steps:
        xs = [pool[i] for i in idx]
        if kind == "unary":
            out = getattr(xs[0], arg)()
        elif kind == "binary":
            out = BINARY[arg].forward(xs[0], xs[1])
        elif kind == "pow":
            out = xs[0] ** arg
        elif kind == "structural":
            out = STRUCTURAL[arg](xs[0] + full)
        elif kind == "matmul":
            out = (xs[0] + full) @ (xs[1] + full).T
        else:
            out = arg * xs[0] - 1.0
        pool.append(out)
    return sum(((p * (k + 1.0)).sum() for k, p in enumerate(pool)), Tensor(0.0)), pool[-1]


def same(a, b):
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a, b, equal_nan=True), (a, b)


@settings(
    max_examples=EXAMPLES,
    derandomize=EXAMPLES < 1000,  # the CI size runs the same cases every time
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(programs(), st.data())
def test_replay_equals_eager_bit_for_bit_on_random_programs(program, data):
    shapes, dtypes, steps = program
    # the first leaf is a parameter, the others inputs (one of them requiring grad)
    param = Tensor(leaf_values(data.draw, shapes[:1], dtypes[:1])[0], requires_grad=True)
    requires = [k == 1 for k in range(len(shapes) - 1)]
    examples = [
        Tensor(a, requires_grad=r)
        for a, r in zip(leaf_values(data.draw, shapes[1:], dtypes[1:]), requires)
    ]

    def fn(*xs):
        return run(steps, [param, *xs])

    try:
        with np.errstate(all="ignore"):
            step = trace(fn, *examples)
    except REFUSALS:
        event("the example refused")
        return  # the eager engine refused the example (log of a negative, ...)
    assert isinstance(step, TensorTrace)
    for _ in range(2):
        arrays = leaf_values(data.draw, shapes[1:], dtypes[1:])
        param.data = leaf_values(data.draw, shapes[:1], dtypes[:1])[0]
        try:
            with np.errstate(all="ignore"):
                want_out, want_grads, want_in = eager(steps, param, arrays, requires)
        except REFUSALS as exc:
            event("new inputs refused")
            with pytest.raises(type(exc)), np.errstate(all="ignore"):
                step(*arrays)
            continue
        event("compared")
        with np.errstate(all="ignore"):
            out, grads, in_grads = step(*arrays)
        same(out[0], want_out[0])
        same(out[1], want_out[1])
        same(grads[0], want_grads[0])
        for got, want in zip(in_grads, want_in):
            assert (got is None) == (want is None)
            if got is not None:
                same(got, want)


def eager(steps, param, arrays, requires):
    """Outputs and gradients of the same program built by the eager engine."""
    param.grad = None
    leaves = [Tensor(a, requires_grad=r) for a, r in zip(arrays, requires)]
    loss, last = run(steps, [param, *leaves])
    loss.backward()
    grads = [np.zeros_like(param.data) if param.grad is None else param.grad]
    in_grads = [
        (np.zeros_like(t.data) if t.grad is None else t.grad) if r else None
        for t, r in zip(leaves, requires)
    ]
    return (loss.data, last.data), grads, in_grads


# -- a training step ------------------------------


def mlp(rng, dtype=np.float64):
    return [
        Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
        for shape in [(3, 2), (3, 1), (1, 3), (1, 1)]
    ]


def mlp_loss(params):
    w1, b1, w2, b2 = params

    def loss(x, d):
        h = (w1 @ x + b1).sigmoid()
        return ((w2 @ h + b2 - d) ** 2).mean()

    return loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_with_a_trace_is_training_eagerly_bit_for_bit(dtype):
    from tinygrad_bp.nn.optim import SGD

    rng = np.random.default_rng(3)
    ours, theirs = mlp(rng, dtype), None
    theirs = [Tensor(p.data, requires_grad=True) for p in ours]
    x0 = Tensor(rng.standard_normal((2, 4)).astype(dtype))
    d0 = Tensor(rng.standard_normal((1, 4)).astype(dtype))
    step = trace(mlp_loss(ours), x0, d0)
    opt, opt_eager = SGD(ours, lr=0.1), SGD(theirs, lr=0.1)
    for _ in range(5):
        x = Tensor(rng.standard_normal((2, 4)).astype(dtype))
        d = Tensor(rng.standard_normal((1, 4)).astype(dtype))
        loss = step.backward(x, d)
        want = mlp_loss(theirs)(x, d)
        want.backward()
        same(loss, want.data)
        for p, q in zip(ours, theirs):
            same(p.grad, q.grad)
            assert p.grad.flags.writeable
        opt.step()
        opt.zero_grad()
        opt_eager.step()
        opt_eager.zero_grad()
        for p, q in zip(ours, theirs):
            same(p.data, q.data)


def test_replay_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    params = mlp(rng)
    x, d = rng.standard_normal((2, 5)), rng.standard_normal((1, 5))
    step = trace(mlp_loss(params), Tensor(x), Tensor(d))
    x2, d2 = rng.standard_normal((2, 5)), rng.standard_normal((1, 5))
    out, grads, _ = step(x2, d2)
    tp = [torch.tensor(p.data, requires_grad=True) for p in params]
    h = torch.sigmoid(tp[0] @ torch.tensor(x2) + tp[1])
    tloss = ((tp[2] @ h + tp[3] - torch.tensor(d2)) ** 2).mean()
    tloss.backward()
    assert out == pytest.approx(tloss.item(), rel=1e-13)
    for g, t in zip(grads, tp):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_gradients_are_summed_over_every_path_and_into_existing_grads():
    w = Tensor([1.0, 2.0], requires_grad=True)
    step = trace(lambda x: (w * x + w * w).sum(), Tensor([3.0, 4.0]))
    step.backward(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(w.grad, [1.0 + 2.0, -1.0 + 4.0])  # x + 2 w
    step.backward([0.0, 0.0])
    np.testing.assert_array_equal(w.grad, [3.0 + 2.0, 3.0 + 4.0])


def test_params_given_for_one_call_and_their_order():
    w, b = Tensor([2.0], requires_grad=True), Tensor([1.0], requires_grad=True)
    step = trace(lambda x: (w * x + b).sum(), Tensor([3.0]), params=[b, w])
    assert step.params == [b, w]
    out, grads, _ = step([3.0], params=[[0.0], [10.0]])
    assert out == 30.0 and grads[0] == 1.0 and grads[1] == 3.0
    assert w.data[0] == 2.0  # the parameters' own data are untouched
    with pytest.raises(TraceError, match="not in params"):
        trace(lambda x: (w * x + b).sum(), Tensor([3.0]), params=[b])


def test_a_constant_computed_from_an_input_is_recomputed():
    # d * 2 needs no gradient, yet depends on the input: it is replayed, not frozen
    w = Tensor([1.0], requires_grad=True)
    step = trace(lambda x, d: ((w * x - d * 2.0) ** 2).sum(), Tensor([1.0]), Tensor([1.0]))
    out, grads, _ = step([1.0], [5.0])
    assert out == (1.0 - 10.0) ** 2
    assert grads[0] == 2 * (1.0 - 10.0) * 1.0


# -- what is refused ------------------------------


def test_inputs_of_another_shape_count_or_dtype_are_refused():
    params = mlp(np.random.default_rng(0))
    step = trace(mlp_loss(params), Tensor(np.ones((2, 4))), Tensor(np.ones((1, 4))))
    with pytest.raises(TraceError, match=r"input 0 has shape \(2, 5\).*\(2, 4\)"):
        step(np.ones((2, 5)), np.ones((1, 5)))
    with pytest.raises(TraceError, match="takes 2 inputs, got 1"):
        step(np.ones((2, 4)))
    with pytest.raises(TraceError, match="float32"):
        step(Tensor(np.ones((2, 4)), dtype="float32"), np.ones((1, 4)))
    with pytest.raises(TraceError, match="NaN or infinity"):
        step(np.full((2, 4), np.nan), np.ones((1, 4)))
    with pytest.raises(TraceError, match="requires_grad=True"):
        step(Tensor(np.ones((2, 4)), requires_grad=True), np.ones((1, 4)))


def test_reading_an_inputs_numbers_while_tracing_is_refused():
    w = Tensor([1.0], requires_grad=True)
    with pytest.raises(TraceError, match="item"):
        trace(lambda x: w * x.sum().item(), Tensor([1.0]))
    with pytest.raises(TraceError, match="numpy"):
        trace(lambda x: w * x.numpy()[0], Tensor([1.0]))
    with pytest.raises(TraceError, match="indexing with a Tensor"):
        trace(lambda x: (w * Tensor([1.0, 2.0])[x]).sum(), Tensor([0.0]))


def test_a_graph_built_outside_the_function_is_refused():
    w = Tensor([1.0], requires_grad=True)
    outside = w * 2.0
    with pytest.raises(TraceError, match="computed outside"):
        trace(lambda x: (outside * x).sum(), Tensor([1.0]))


def test_outputs_must_start_with_one_number():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TraceError, match=r"shape \(2,\)"):
        trace(lambda x: w * x, Tensor([1.0, 1.0]))
    with pytest.raises(TraceError, match="must return a Tensor"):
        trace(lambda x: 3.0, Tensor([1.0, 1.0]))


def test_check_sees_a_python_branch_on_a_value():
    w = Tensor([1.0], requires_grad=True)

    def fn(x):
        return (w * x).sum() if x.data[0] > 0 else (w * x).exp().sum()

    step = trace(fn, Tensor([1.0]))
    step.check([2.0])
    with pytest.raises(TraceError, match="another graph"):
        step.check([-1.0])


def test_an_input_outside_an_ops_domain_raises_the_eager_error():
    w = Tensor([1.0], requires_grad=True)
    step = trace(lambda x: (w * x).log().sum(), Tensor([1.0]))
    with pytest.raises(ValueError, match="log"):
        step([-1.0])


def test_under_detect_anomaly_the_replay_runs_eagerly_and_raises():
    w = Tensor([1.0], requires_grad=True)
    step = trace(lambda x: (w * x * x).sum(), Tensor([1.0]))
    out, grads, _ = step([2.0])
    with detect_anomaly():
        assert step([2.0]).grads[0] == grads[0]
        with pytest.raises(FloatingPointError), np.errstate(over="ignore"):
            step([1e200])  # x * x overflows
        with no_grad():  # a replay gives gradients inside no_grad(), eagerly too
            assert step([2.0]).grads[0] == grads[0]
    with np.errstate(over="ignore"):
        assert step([1e200]).output == np.inf  # without it, IEEE's answer, as eagerly
    assert w.grad is None  # neither run left a gradient behind


def test_replays_in_threads_give_each_its_own_numbers():
    params = mlp(np.random.default_rng(1))
    step = trace(mlp_loss(params), Tensor(np.ones((2, 3))), Tensor(np.ones((1, 3))))
    rng = np.random.default_rng(2)
    inputs = [(rng.standard_normal((2, 3)), rng.standard_normal((1, 3))) for _ in range(8)]
    want = [step(*xy) for xy in inputs]
    got = [None] * len(inputs)

    def work(i):
        for _ in range(50):
            got[i] = step(*inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want):
        same(g.output, w.output)
        for a, b in zip(g.grads, w.grads):
            same(a, b)


def test_each_leaf_gets_its_own_gradient_array():
    # d(p + q)/dp and d(p + q)/dq are the same array G on the way back: each leaf copies it
    p, q = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    step = trace(lambda x: (p + q + x).sum(), Tensor([0.0, 0.0], requires_grad=True))
    x = Tensor([5.0, 6.0], requires_grad=True)
    step.backward(x)
    arrays = [p.grad, q.grad, x.grad]
    for i, a in enumerate(arrays):
        assert a.flags.writeable
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)
    p.grad *= 10.0
    np.testing.assert_array_equal(q.grad, [1.0, 1.0])
    _, grads, in_grads = step([0.0, 0.0])
    assert not np.shares_memory(grads[0], grads[1]) and not np.shares_memory(grads[0], in_grads[0])


def test_the_replay_frees_each_array_after_its_last_use():
    import tracemalloc

    w = Tensor(np.full((100, 100), 0.01), requires_grad=True)

    def chain(x):
        h = x
        for _ in range(20):
            h = (w @ h).tanh()
        return h.sum()

    x = Tensor(np.ones((100, 100)))
    step = trace(chain, x)

    def peak(run):
        w.grad = None
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    eager, replayed = peak(lambda: chain(x).backward()), peak(lambda: step.backward(x))
    # eagerly every node keeps its value and its gradient: 40 nodes, over 80 arrays; the
    # replay keeps the 20 values the backward pass reads, and a few gradients at a time
    assert replayed < 0.4 * eager, (replayed, eager)


def test_several_outputs_and_the_node_limit():
    w = Tensor([1.0, 2.0], requires_grad=True)

    def fn(x):
        h = (w * x).tanh()
        return h.sum(), h

    step = trace(fn, Tensor([0.5, 0.5]))
    (loss, h), grads, _ = step([0.1, -0.2])
    want = (w * Tensor([0.1, -0.2])).tanh()
    same(h, want.data)
    want.sum().backward()
    same(loss, want.sum().data)
    same(grads[0], w.grad)
    assert not h.flags.writeable  # the outputs are read-only views
    with pytest.raises(TraceError, match=r"over the limit of 3 .*max_nodes=\d+"):
        trace(fn, Tensor([0.5, 0.5]), max_nodes=3)
    assert "1 inputs, 1 params, 3 operations" in repr(step)


def test_a_parameter_given_another_shape_is_refused_not_misread():
    params = mlp(np.random.default_rng(0))
    step = trace(mlp_loss(params), Tensor(np.ones((2, 4))), Tensor(np.ones((1, 4))))
    params[1].data = np.zeros((3, 4))  # b1 as wide as the batch: it would still broadcast
    with pytest.raises(TraceError, match=r"shape \(3, 4\).*\(3, 1\).*trace again"):
        step.backward(np.ones((2, 4)), np.ones((1, 4)))
    params[1].data = np.zeros((3, 1), dtype=np.float32)
    with pytest.raises(TraceError, match="float32"):
        step(np.ones((2, 4)), np.ones((1, 4)))


def test_a_deep_chain_compiles_in_linear_time():
    import time

    w = Tensor([0.5, -0.25, 0.125], requires_grad=True)

    def chain(x):
        h = x
        for i in range(6000):
            h = (h * w).tanh() if i % 2 else h + w
        return h.sum()

    x = Tensor([0.1, 0.2, 0.3])
    start = time.perf_counter()
    step = trace(chain, x)
    # linear: about a second; freeing each array took minutes when it was quadratic
    assert time.perf_counter() - start < 20
    out, grads, _ = step(x)
    loss = chain(x)
    loss.backward()
    same(out, loss.data)
    same(grads[0], w.grad)


def test_detach_is_replayed_on_the_new_numbers_and_tensor_of_a_traced_tensor_is_refused():
    w = Tensor([0.5, -1.5, 2.0], requires_grad=True)

    def fn(x):
        h = w * x
        # stop-gradient: d/dw sum(h * stop(h) + x * stop(w)) = x * h (by hand)
        return (h * h.detach() + x * w.detach() + x.detach()).sum()

    step = trace(fn, Tensor([1.0, 1.0, 1.0]))
    w.data = np.array([1.0, 2.0, -3.0])  # as an optimizer step would
    x = np.array([2.0, -1.0, 0.5])
    out, grads, _ = step(x)
    h = w.data * x
    assert out == np.sum(h * h + x * w.data + x)
    same(grads[0], x * h)
    with pytest.raises(TraceError, match=r"Tensor\(t\)"):
        trace(lambda x: (w * Tensor(x)).sum(), Tensor([1.0, 1.0, 1.0]))


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_fit_with_a_trace_on_float32_weights_is_fit_eagerly(loss):
    from tinygrad_bp.nn.layers import MLP
    from tinygrad_bp.nn.optim import SGD
    from tinygrad_bp.nn.train import fit

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 2))
    y = (X[:, 0] > 0) + (X[:, 1] > 0) if loss == "ce" else X[:, :1] * X[:, 1:]
    runs = []
    for traced in (False, True):
        model = MLP([2, 4, 3 if loss == "ce" else 1], "tanh", seed=1, dtype="float32")
        history = fit(model, X, y, loss, SGD(model.parameters(), lr=0.1), 2, 8, trace=traced)
        runs.append((history.losses, model.parameters()))
    assert runs[0][0] == runs[1][0]
    for p, q in zip(runs[0][1], runs[1][1]):
        same(p.data, q.data)


def test_params_for_one_call_leave_the_parameters_alone_in_every_thread():
    w = Tensor(np.ones((20, 20)), requires_grad=True)
    step = trace(lambda x: (w @ x).tanh().sum(), Tensor(np.ones((20, 20))))
    x = np.random.default_rng(0).standard_normal((20, 20))
    want = {v: np.tanh(np.full((20, 20), v) @ x).sum() for v in (1.0, 2.0)}
    wrong = []

    def work(v):
        for _ in range(200):
            values = None if v == 1.0 else [np.full((20, 20), v)]
            if step(x, params=values).output != want[v]:
                wrong.append(v)

    threads = [threading.Thread(target=work, args=(v,)) for v in (1.0, 2.0, 2.0)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong and (w.data == 1.0).all()


def test_a_parameter_frozen_after_tracing_is_refused_not_updated():
    w, v = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    c = Tensor([5.0, 6.0])
    step = trace(lambda x: (w * x + v * c).sum(), Tensor([1.0, 1.0]))
    w.requires_grad = False  # eagerly w would get no gradient now
    with pytest.raises(TraceError, match="requires_grad=False.*recorded with True; trace again"):
        step.backward([1.0, 2.0])
    assert w.grad is None and v.grad is None
    w.requires_grad, c.requires_grad = True, True  # and c would get one
    with pytest.raises(TraceError, match="requires_grad=True.*recorded with False"):
        step([1.0, 2.0])


def test_an_index_array_is_read_at_each_call_and_a_new_shape_is_refused():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    mask = np.array([True, True, True, False])
    step = trace(lambda x: (x[mask] * w).sum(), Tensor(np.ones(4), requires_grad=True))
    mask[:] = [False, True, True, True]  # as eagerly: x[1:] * w
    out, grads, (dx,) = step([0.0, 1.0, 2.0, 3.0])
    assert out == 1.0 * 1 + 2.0 * 2 + 3.0 * 3
    same(grads[0], np.array([1.0, 2.0, 3.0]))
    same(dx, np.array([0.0, 1.0, 2.0, 3.0]))
    mask[1] = False  # two entries: the compiled gradients were for three
    with pytest.raises(TraceError, match=r"index array .* shape \(2,\).*\(3,\); trace again"):
        step([0.0, 1.0, 2.0, 3.0])


def test_a_tensor_function_traced_without_example_tensors_is_told_how():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TraceError, match=r"is a Tensor, but no example input was.*TensorTrace"):
        trace(lambda: (w * w).sum())
    out, grads, _ = TensorTrace(lambda: (w * w).sum())()
    assert out == 5.0
    same(grads[0], np.array([2.0, 4.0]))


def test_a_constant_index_tensor_is_read_at_each_call_as_eagerly():
    w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    idx = Tensor([0.0, 2.0], role="const")
    step = trace(lambda x: (w[idx] * x).sum(), Tensor([1.0, 1.0]))
    idx.data[:] = [1.0, 1.0]  # now w[[1, 1]] * x: dw = [0, x0 + x1, 0]
    out, grads, _ = step([3.0, 5.0])
    assert out == 2.0 * 3.0 + 2.0 * 5.0
    same(grads[0], np.array([0.0, 8.0, 0.0]))


def test_check_sees_a_branch_between_operands_numbers_and_axes_of_the_same_shapes():
    w, v = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    flag = [True]
    branches = [  # each builds the same operations of the same shapes on either side
        lambda x: ((w * x) if flag[0] else (v * x)).tanh().sum(),
        lambda x: (x * w * (2.0 if flag[0] else 3.0)).sum(),
        lambda x: ((x.reshape(2, 1) * w * x).sum(axis=0 if flag[0] else 1) * w).sum(),
        lambda x: (w * x)[np.array([0, 0]) if flag[0] else np.array([1, 1])].sum(),
    ]
    for fn in branches:
        flag[0] = True
        step = trace(fn, Tensor([1.0, 1.0]))
        step.check([5.0, -6.0])  # the same graph
        flag[0] = False
        with pytest.raises(TraceError, match="another graph than the recorded one"):
            step.check([1.0, 2.0])
        assert step([1.0, 2.0]).output != fn(Tensor([1.0, 2.0])).data  # what check() warns of


def test_check_sees_a_branch_between_a_zero_and_a_negative_zero():
    w = Tensor([2.0, 3.0], requires_grad=True)
    flag = [True]

    def fn(x):  # dw = x * 0.0 or x * -0.0: gradients of other signs
        return (x * w * (0.0 if flag[0] else -0.0)).sum()

    step = trace(fn, Tensor([1.0, 1.0]))
    step.check([5.0, 6.0])
    flag[0] = False
    with pytest.raises(TraceError, match="another graph than the recorded one"):
        step.check([5.0, 6.0])
    fn(Tensor([5.0, 6.0])).backward()
    assert np.signbit(w.grad).all() and not np.signbit(step([5.0, 6.0]).grads[0]).any()


def test_check_accepts_a_parameter_made_by_the_function_on_its_first_call():
    made = {}

    def fn(x):
        if "w" not in made:  # a layer that makes its weights when first called
            made["w"] = Tensor([1.0, 2.0], requires_grad=True)
        return (made["w"] * x).sum()

    step = trace(fn, Tensor([1.0, 1.0]))
    step.check([3.0, 4.0])
    made["w"] = Tensor([1.0, 2.0], requires_grad=True)  # another Tensor: not what was traced
    with pytest.raises(TraceError, match="another graph"):
        step.check([3.0, 4.0])


def test_reading_a_parameters_numbers_while_tracing_is_refused():
    w = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TraceError, match="parameter"):
        trace(lambda x: (x * w.numpy()[0]).sum(), Tensor([1.0, 1.0], requires_grad=True))
    with pytest.raises(TraceError, match="parameter"):
        trace(lambda x: (x * w.sum().item()).sum() + w.sum(), Tensor([1.0, 1.0]))


def test_a_tensor_trace_has_its_own_node_limit():
    from tinygrad_bp.engine.tensor_trace import MAX_NODES

    w = Tensor([1.0], requires_grad=True)

    def chain(x):
        for _ in range(MAX_NODES):  # and w and x: over the limit
            x = x * w
        return x.sum()

    with pytest.raises(TraceError, match=rf"over the limit of {MAX_NODES:,} .*max_nodes="):
        trace(chain, Tensor([1.0]))


def test_an_eager_replay_with_params_is_not_seen_by_another_thread_using_the_trace():
    # under detect_anomaly a replay runs the eager engine, which sets params= values into
    # the parameters for that call: another thread's replay must not read them
    w = Tensor([1.0, 2.0], requires_grad=True)
    inside, release = threading.Event(), threading.Event()

    def fn(x):
        loss = (x * w).sum()
        if threading.current_thread().name == "anomalous":
            inside.set()
            release.wait(timeout=10)
        return loss

    step = trace(fn, Tensor([1.0, 1.0]))
    got = {}

    def anomalous():
        with detect_anomaly():
            got["anomalous"] = step([1.0, 1.0], params=[np.array([100.0, 100.0])]).output

    def other():
        got["other"] = step([1.0, 1.0]).output
        step.backward([1.0, 1.0])

    while_paused(anomalous, "anomalous", inside, release, other)
    assert got == {"anomalous": 200.0, "other": 3.0}
    same(w.data, np.array([1.0, 2.0]))
    same(w.grad, np.array([1.0, 1.0]))  # the other thread's backward is not lost


def test_calling_a_trace_inside_a_traced_function_is_refused():
    # the inner replay hands out numbers (of the input and the parameters): they would be
    # frozen into the outer trace (which gave 55.0 here for the eager 121.0)
    w = Tensor([1.0, 2.0], requires_grad=True)
    inner = trace(lambda x: (x * w).sum(), Tensor([1.0, 2.0]))

    def outer(x):
        return (x * w * Tensor(inner(x).output)).sum()

    def outer_backward(x):
        inner.backward(Tensor([1.0, 2.0], role="const"))
        return (x * w).sum()

    for fn in (outer, outer_backward):
        with pytest.raises(TraceError, match="inside a traced function"):
            trace(fn, Tensor([1.0, 2.0]))
    assert outer(Tensor([3.0, 4.0])).item() == 121.0  # eagerly, a call is fine


def test_check_reads_a_list_index_as_the_replay_does():
    idx = [0, 1]
    step = trace(lambda x: x[idx].sum(), Tensor([1.0, 2.0, 3.0], requires_grad=True))
    idx[0] = 2  # the replay reads the list at each call, as eagerly: x[[2, 1]]
    assert step([1.0, 2.0, 3.0]).output == 5.0
    step.check([1.0, 2.0, 3.0])  # the same graph, on the list as it is now


def test_reads_sees_every_argument_a_derivative_loads():
    """Python 3.13 loads two locals in one instruction (LOAD_FAST_LOAD_FAST, whose
    argval is a pair): ``1 - y * y`` reads y. Missed, the replay passed None for it."""
    from tinygrad_bp.engine.ops import UNARY, reads

    assert reads(lambda x, y: 1 - y * y, 2) == (False, True)
    assert reads(lambda a, b, out: a * b, 3) == (True, True, False)
    assert reads(UNARY["tanh"].grad, 2)[1]
