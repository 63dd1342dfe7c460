"""Two threads, one paused in the middle of a call while the other runs: for the tests of
what a call does to state that other threads read."""

from __future__ import annotations

import threading
from collections.abc import Callable


def while_paused(
    pausing: Callable[[], None],
    name: str,
    inside: threading.Event,
    release: threading.Event,
    other: Callable[[], None],
) -> None:
    """Run `pausing` in a thread named `name` until it sets `inside` (and waits for
    `release`); then `other` in a second thread, given half a second to finish while the
    first is paused; then release the first and wait for both."""
    first = threading.Thread(target=pausing, name=name)
    first.start()
    assert inside.wait(timeout=10)
    second = threading.Thread(target=other)
    second.start()
    second.join(timeout=0.5)
    release.set()
    first.join(timeout=10)
    second.join(timeout=10)
