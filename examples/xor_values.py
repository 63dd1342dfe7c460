"""XOR with a scalar Value network: every weight is one named number, as in the slides.

Run: python examples/xor_values.py
"""

from tinygrad_bp import nn
from tinygrad_bp.nn import data
from tinygrad_bp.nn.optim import Adam
from tinygrad_bp.nn.train import fit, predict

X, y = data.xor()  # the four points and their labels
model = nn.ValueMLP([2, 4, 1], activation="tanh", output="linear", seed=0)
print("parameters:", ", ".join(name for name, _ in model.named_parameters()))

history = fit(model, X, y, loss="bce", optimizer=Adam(model.parameters(), lr=0.1), epochs=150,
              batch_size=4)  # fmt: skip
print(f"loss {history.losses[0]:.4f} -> {history.losses[-1]:.6f}")
for (x1, x2), logit in zip(X, predict(model, X)[:, 0]):
    print(f"{x1:.0f} XOR {x2:.0f} -> {int(logit > 0)}   (logit {logit:+.3f})")
assert ((predict(model, X)[:, 0] > 0) == (y > 0.5)).all()
