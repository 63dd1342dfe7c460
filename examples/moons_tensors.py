"""Two moons with a Tensor MLP: held-out split, mini-batches, Adam, traced replay, saved model.

Run: python examples/moons_tensors.py
"""

import tempfile
from pathlib import Path

from tinygrad_bp import nn
from tinygrad_bp.nn import data
from tinygrad_bp.nn.optim import Adam
from tinygrad_bp.nn.train import fit, score, split

X, y = data.moons(n=400, noise=0.1, seed=0)
X_train, y_train, X_held, y_held = split(X, y, holdout=0.2, seed=0)  # 80 points never trained on
model = nn.MLP([2, 16, 16, 1], activation="tanh", output="linear", seed=0)
history = fit(model, X_train, y_train, loss="bce", optimizer=Adam(model.parameters(), lr=0.05),
              epochs=100, batch_size=32, holdout=(X_held, y_held))  # fmt: skip
_, train_accuracy = score(model, X_train, y_train, "bce")
_, held_accuracy = score(model, X_held, y_held, "bce")
print(f"{len(history.losses)} epochs in {history.seconds:.2f} s")
print(f"training accuracy {train_accuracy:.1%}, held-out {held_accuracy:.1%} (estimates new data)")

# The same training with each batch's graph recorded once (per batch size) and replayed
# as compiled numpy code: the same losses and weights, bit for bit, in less time.
replayed = nn.MLP([2, 16, 16, 1], activation="tanh", output="linear", seed=0)
traced = fit(replayed, X_train, y_train, loss="bce", optimizer=Adam(replayed.parameters(), lr=0.05),
             epochs=100, batch_size=32, holdout=(X_held, y_held), trace=True)  # fmt: skip
assert traced.losses == history.losses and traced.holdout_losses == history.holdout_losses
print(f"traced: the same {len(traced.losses)} epochs in {traced.seconds:.2f} s")

path = model.save(Path(tempfile.mkdtemp()) / "moons.npz")
again = nn.MLP.load(path)  # the file knows the sizes, activations and dtype
reloaded = score(again, X_held, y_held, "bce")[1]
print(f"saved and reloaded {path.name}: held-out accuracy {reloaded:.1%}")
assert held_accuracy > 0.95
