"""Random expressions on both engines against PyTorch 2.13 float64: values and gradients.

Every op of the table, matmul, sum/mean/max over negative axes, broadcasting,
reshape, transpose with negative axes, indexing and log_softmax, on leaves that
include the edges (0, 1e-300, 1e300, negatives). NaN and infinity must appear
in the same places as in PyTorch. Where our engine refuses an input with a
clear error (log of 0, e^1000, 0 ** -1, ...), PyTorch must give NaN or an
infinity there: a refusal is never a lie.

The CI size is small; ``pytest --long`` runs 10^4 cases per test.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinygrad_bp import Tensor, Value
from tinygrad_bp.engine.ops import BINARY, UNARY

from .randgraph import draw_steps, table_graphs

torch = pytest.importorskip("torch")
F = torch.nn.functional

EXAMPLES = int(os.environ.get("TINYGRAD_BP_FUZZ_EXAMPLES", "75"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=EXAMPLES < 1000,  # the CI size runs the same cases every time
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REFUSALS = (ValueError, ZeroDivisionError, OverflowError)
EDGES = [0.0, 1e-300, -1e-300, 1e300, -1e300, 3.0, -3.0]


class MaskedAbs(torch.autograd.Function):
    """|x| whose gradient is masked where sign x = 0, the table's rule for masking ops
    (PyTorch multiplies, so a NaN upstream would leak through x = 0)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.abs()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = torch.sign(x)
        return torch.where(s != 0, g * s, torch.zeros_like(g))


TORCH_UNARY = {
    "linear": lambda t: t * 1.0,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    # log(e^0 + e^x): PyTorch's softplus switches to x above 20, an approximation
    "softplus": lambda t: torch.logaddexp(t, torch.zeros_like(t)),
    "elu": F.elu,
    "leaky_relu": F.leaky_relu,
    "neg": torch.neg,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "abs": MaskedAbs.apply,
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
}
assert set(TORCH_UNARY) == set(UNARY), "every op of the table needs its PyTorch reference"

STRUCTURAL = {
    # name: (ours, torch); every result broadcasts against shape (2, 3)
    "sum-1k": (lambda t: t.sum(axis=-1, keepdims=True), lambda t: t.sum(-1, keepdim=True)),
    "mean-2k": (lambda t: t.mean(axis=-2, keepdims=True), lambda t: t.mean(-2, keepdim=True)),
    "sum": (lambda t: t.sum(), lambda t: t.sum()),
    "max-1k": (lambda t: t.max(axis=-1, keepdims=True), lambda t: t.amax(-1, keepdim=True)),
    "max0k": (lambda t: t.max(axis=0, keepdims=True), lambda t: t.amax(0, keepdim=True)),
    "reshapeT": (
        lambda t: t.reshape(3, 2).transpose(-1, -2),
        lambda t: t.reshape(3, 2).permute(-1, -2),
    ),
    "index": (lambda t: t[[1, 0]][:, [2, 0, 1]], lambda t: t[[1, 0]][:, [2, 0, 1]]),
    "log_softmax-1": (lambda t: t.log_softmax(axis=-1), lambda t: torch.log_softmax(t, -1)),
    "log_softmax0": (lambda t: t.log_softmax(axis=0), lambda t: torch.log_softmax(t, 0)),
}
MATMUL = (lambda a, b, c: (a @ b.T) @ c, lambda a, b, c: (a @ b.T) @ c)
EXPONENTS = [0.0, 1.0, 2.0, 3.0, -1.0, 0.5, -2.0, 1.5]


def compare(ours, theirs, what: str, blas: bool = False, terms: float = 1.0) -> None:
    """Equal to rtol 1e-10, NaN and infinities in the same places. Sums that cancel
    leave rounding of the size of their terms: atol is 1e-12 of the larger of the
    results and `terms` (a bound on the terms' size; d(x/x)/dx = 1/x - 1/x is
    exactly 0 here and 1e-16/x in PyTorch, which rounds 1/x before multiplying).

    With `blas`, a matrix product was involved: BLAS libraries order (and fuse) the
    terms of a dot product differently, so inf - inf may come out as NaN in one and
    as an infinity in the other; then NaN and infinity count alike, and where the
    terms near overflow (1e290 and up) nothing is compared: the order of the terms
    decides between inf, NaN and finite numbers. Without a matrix product the same
    holds at the 1e300 cap of `terms` (1/x of a subnormal x: PyTorch forms g / x
    where we form (1/x) * g, and one of them overflows).
    """
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    if terms >= (1e290 if blas else 1e299):  # terms that overflow: the order decides
        return
    if blas:
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs), err_msg=what)
        both = np.isfinite(ours) & np.isfinite(theirs)
        ours, theirs = np.where(both, ours, 0), np.where(both, theirs, 0)
    finite = np.abs(np.concatenate([ours[np.isfinite(ours)], theirs[np.isfinite(theirs)]]))
    scale = max(1.0, terms, float(finite.max(initial=0.0)))
    np.testing.assert_allclose(
        ours, theirs, rtol=1e-10, atol=1e-12 * scale, equal_nan=True, err_msg=what
    )


def terms(pool) -> float:
    """A rough bound on the chain rule's terms for `leaf`: the largest value over the
    smallest nonzero value of the graph (a quotient's partials are out / b, and b may
    be any node)."""
    values = np.concatenate([np.ravel(np.asarray(p.data, dtype=float)) for p in pool])
    values = np.abs(values[np.isfinite(values)])
    nonzero = values[values > 0]
    small = max(float(nonzero.min()), 1e-300) if nonzero.size else 1.0
    top = float(values.max(initial=1.0))
    return min(top / min(small, 1.0), 1e300)


def run_torch(fn, *args):
    with torch.no_grad():
        return fn(*args)


@st.composite
def tensor_programs(draw):
    shapes = [(2, 3), (3,), (1, 3), (2, 1), ()]
    n = draw(st.integers(1, 3))
    leaves = []
    for _ in range(n):
        shape = draw(st.sampled_from(shapes)) if leaves else (2, 3)
        size = int(np.prod(shape))
        vals = draw(
            st.lists(
                # no -0.0: the sign of an infinite derivative there (d sqrt at -0.0)
                # is an accident of each library
                st.one_of(st.floats(-2.0, 2.0).map(lambda v: v + 0.0), st.sampled_from(EDGES)),
                min_size=size,
                max_size=size,
            )
        )
        leaves.append(np.array(vals, dtype=float).reshape(shape))
    kinds = {
        "unary": (st.sampled_from(sorted(UNARY)), 1),
        "binary": (st.sampled_from(sorted(BINARY)), 2),
        "pow": (st.sampled_from(EXPONENTS), 1),
        "structural": (st.sampled_from(sorted(STRUCTURAL)), 1),
        "matmul": (st.none(), 3),
    }
    steps = draw_steps(draw, n, kinds, max_steps=6)
    return leaves, steps


def apply(step, pool, engine):
    kind, arg, idx = step
    xs = [pool[i] for i in idx]
    if engine == "ours":
        if kind == "unary":
            return getattr(xs[0], arg)()
        if kind == "binary":
            return BINARY[arg].forward(xs[0], xs[1])
        if kind == "pow":
            return xs[0] ** arg
        if kind == "structural":
            return STRUCTURAL[arg][0](xs[0] + Tensor(np.zeros((2, 3))))
        full = [x + Tensor(np.zeros((2, 3))) for x in xs]
        return MATMUL[0](*full)
    if kind == "unary":
        return TORCH_UNARY[arg](xs[0])
    if kind == "binary":
        return BINARY[arg].forward(xs[0], xs[1])
    if kind == "pow":
        return xs[0] ** arg
    zeros = torch.zeros((2, 3), dtype=torch.float64)
    if kind == "structural":
        return STRUCTURAL[arg][1](xs[0] + zeros)
    return MATMUL[1](*(x + zeros for x in xs))


def refusal_is_justified(step, tpool) -> bool:
    """PyTorch's own result for the refused step has a NaN or an infinity (or, for a
    negative base under a recorded exponent, so would its gradient)."""
    if step[0] == "binary" and step[1] == "pow":
        base = tpool[step[2][0]]
        if (base < 0).any():
            return True
    out = run_torch(apply, step, [t.detach() for t in tpool], "torch")
    return not torch.isfinite(out).all().item()


@FUZZ
@given(tensor_programs())
def test_random_tensor_expressions_match_pytorch(program):
    leaves, steps = program
    ours = [Tensor(x, requires_grad=True) for x in leaves]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in leaves]
    pool, tpool = list(ours), list(theirs)
    blas = False
    with np.errstate(all="ignore"):  # inf and NaN are expected here; this test compares them
        for step in steps:
            try:
                out = apply(step, pool, "ours")
            except REFUSALS as exc:
                assert refusal_is_justified(step, tpool), f"{step} refused: {exc}"
                return
            tout = apply(step, tpool, "torch")
            size = 1.0
            if step[0] == "structural":  # sums round by their terms' size, in any order
                x = np.abs(np.asarray(pool[step[2][0]].data))
                size = float(x[np.isfinite(x)].max(initial=1.0))
            if step[0] == "matmul":  # the terms of the dot products: |A| |B|^T |C|
                blas = True
                a, b, c = (np.abs(np.broadcast_to(pool[i].data, (2, 3))) for i in step[2])
                size = float(np.nan_to_num((a @ b.T) @ c, nan=np.inf).max())
            theirs_out = tout.detach().numpy()
            compare(out.data, theirs_out, f"value of {step}", blas, size)
            if not np.array_equal(out.data, theirs_out, equal_nan=True):
                # rounded otherwise than PyTorch, within tolerance: a sum that cancelled
                # (1 + 1e300 - 1e300 is 0 or 1; a dot product's residue is -8e-17 or 0),
                # or a large value one ulp apart (x ** -2 at 1e-6). What is computed from
                # it (cos of it, 1 / it) would be compared against another number, so
                # the program ends here
                apart = np.abs(np.where(out.data != theirs_out, out.data, 0.0))
                large = float(np.nan_to_num(apart, nan=np.inf).max(initial=0.0)) >= 1e3
                relative = np.allclose(out.data, theirs_out, 1e-10, 0.0, equal_nan=True)
                if large or not relative:
                    return
            # + 0.0 turns -0.0 into 0.0: as for the leaves, the sign of an infinite
            # derivative at -0.0 (sqrt, say) is an accident of each library
            pool.append(out + 0.0)
            tpool.append(tout + 0.0)
        root = sum(((p * (k + 1.0)).sum() for k, p in enumerate(pool)), Tensor(0.0))
        troot = sum((p * (k + 1.0)).sum() for k, p in enumerate(tpool))
        root.backward()
    troot.backward()
    for k, (a, t) in enumerate(zip(ours, theirs)):
        what = f"gradient of leaf {k} after {steps}"
        compare(a.grad, t.grad.numpy(), what, blas, terms(pool))


@FUZZ
@given(table_graphs(EDGES))
def test_random_value_graphs_match_pytorch_scalars(graph):
    leaves, steps = graph
    values = [Value(x) for x in leaves]
    tleaves = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in leaves]
    pool, tpool = list(values), list(tleaves)
    for kind, arg, idx in steps:
        xs, txs = [pool[i] for i in idx], [tpool[i] for i in idx]
        try:
            if kind == "unary":
                out = getattr(xs[0], arg)()
            else:
                out = BINARY[arg].forward(*xs)
        except REFUSALS as exc:
            with torch.no_grad():
                t = TORCH_UNARY[arg](*txs) if kind == "unary" else BINARY[arg].forward(*txs)
            justified = not torch.isfinite(t).item() or (arg == "pow" and txs[0].item() < 0)
            assert justified, f"{kind} {arg} refused: {exc}"
            return
        tout = TORCH_UNARY[arg](*txs) if kind == "unary" else BINARY[arg].forward(*txs)
        compare(out.data, tout.item(), f"value of {arg}")
        pool.append(out + 0.0)  # no -0.0 (see the Tensor test)
        tpool.append(tout + 0.0)
    root = pool[-1]
    troot = tpool[-1]
    root.backward()
    troot.backward()
    for k, (v, t) in enumerate(zip(values, tleaves)):
        expected = 0.0 if t.grad is None else t.grad.item()
        what = f"gradient of leaf {k}: {steps}"
        compare(0.0 if v.grad is None else v.grad, expected, what, terms=terms(pool))
