"""Two moons with a Tensor MLP: mini-batches, Adam, a saved model.

Run: python examples/moons_tensors.py
"""

import tempfile
from pathlib import Path

from tinygrad_bp import nn
from tinygrad_bp.nn import data
from tinygrad_bp.nn.optim import Adam
from tinygrad_bp.nn.train import fit, score

X, y = data.moons(n=400, noise=0.1, seed=0)
model = nn.MLP([2, 16, 16, 1], activation="tanh", output="linear", seed=0)
history = fit(model, X, y, loss="bce", optimizer=Adam(model.parameters(), lr=0.05), epochs=100,
              batch_size=32)  # fmt: skip
metric, accuracy = score(model, X, y, "bce")
print(f"{len(history.losses)} epochs in {history.seconds:.2f} s, training {metric} {accuracy:.1%}")

path = model.save(Path(tempfile.mkdtemp()) / "moons.npz")
again = nn.MLP.load(path)  # the file knows the sizes, activations and dtype
print(f"saved and reloaded {path.name}: accuracy {score(again, X, y, 'bce')[1]:.1%}")
assert accuracy > 0.95
