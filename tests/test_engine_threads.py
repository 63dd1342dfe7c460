"""no_grad and detect_anomaly belong to the thread that entered them (context variables)."""

from __future__ import annotations

import threading

import numpy as np

from tinygrad_bp import (
    Tensor,
    Value,
    detect_anomaly,
    is_grad_enabled,
    no_grad,
)
from tinygrad_bp.engine.autograd import is_anomaly_enabled


def test_two_threads_with_overlapping_no_grad_blocks_each_see_their_own_mode():
    inside = threading.Barrier(2)
    left = threading.Barrier(2)
    seen: dict[str, list] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def worker(key: str, leave_first: bool) -> None:
        try:
            x = Value(1.0)
            with no_grad():
                inside.wait(timeout=10)  # both blocks are open now
                seen[key].append((is_grad_enabled(), (x * 2).parents))
                if not leave_first:
                    left.wait(timeout=10)
            if leave_first:  # out of the block while the other thread is still inside
                seen[key].append((is_grad_enabled(), (x * 2).parents != ()))
                left.wait(timeout=10)
            seen[key].append((is_grad_enabled(), (x * 2).parents != ()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=("a", True)),
        threading.Thread(target=worker, args=("b", False)),
    ]
    with no_grad():  # the main thread's own block does not reach the workers
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert not is_grad_enabled()
    assert not errors
    assert seen["a"] == [(False, ()), (True, True), (True, True)]
    assert seen["b"] == [(False, ()), (True, True)]
    assert is_grad_enabled()  # the main thread's mode is untouched


def test_a_thread_in_no_grad_leaves_the_main_thread_recording():
    entered, release = threading.Event(), threading.Event()

    def worker() -> None:
        with no_grad():
            entered.set()
            release.wait(timeout=10)

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(timeout=10)
    a = Tensor([1.0], requires_grad=True)
    b = a * 2  # recorded here while the other thread is inside no_grad
    release.set()
    t.join(timeout=10)
    assert b.requires_grad and b.parents[0] is a


def test_anomaly_mode_is_per_thread_too():
    results = []

    def worker() -> None:
        results.append(is_anomaly_enabled())
        big = Tensor([1e300])
        with np.errstate(over="ignore"):
            results.append(np.isinf((big * big).data).all())  # no AnomalyError here

    with detect_anomaly():
        t = threading.Thread(target=worker)
        t.start()
        t.join(timeout=10)
        assert is_anomaly_enabled()
    assert results == [False, True]
    assert not is_anomaly_enabled()


def test_nested_blocks_restore_the_previous_mode():
    with no_grad():
        with detect_anomaly():
            assert not is_grad_enabled() and is_anomaly_enabled()
        assert not is_anomaly_enabled() and not is_grad_enabled()
    assert is_grad_enabled()

    @no_grad()
    def f() -> bool:
        return is_grad_enabled()

    assert f() is False and is_grad_enabled()


def test_two_threads_walking_backward_through_a_shared_parameter_keep_their_gradients():
    # thread A pauses in the middle of its backward walk; thread B walks through the same
    # parameter meanwhile. When B's backward() returns, w.grad holds B's own share (the
    # walks kept their gradients in flight on the nodes, and B's went into A's, or
    # crashed on a None); at the end it holds both.
    w = Tensor([1.0, 1.0], requires_grad=True)
    paused, resume = threading.Event(), threading.Event()
    seen_by_b = []

    def pause(g):
        paused.set()
        resume.wait(timeout=10)
        return (g,)

    def walk_a() -> None:
        h = w * 1.0
        held = Tensor._result(h.data.copy(), (h,), pause, "pause", True, None, (), (h.data,))
        held.sum().backward()

    def walk_b() -> None:
        (w * 2.0).sum().backward()
        seen_by_b.append(None if w.grad is None else w.grad.tolist())

    a = threading.Thread(target=walk_a)
    a.start()
    assert paused.wait(timeout=10)
    b = threading.Thread(target=walk_b)
    try:
        b.start()
        b.join(timeout=0.3)  # B finishes now, or waits for A's walk
    finally:
        resume.set()
        a.join(timeout=10)
        b.join(timeout=10)
    assert seen_by_b in ([[2.0, 2.0]], [[3.0, 3.0]])
    assert w.grad.tolist() == [3.0, 3.0]
