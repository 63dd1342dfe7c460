"""XOR with a scalar Value network: every weight is one named number, as in the slides.

Run: python examples/xor_values.py
"""

from tinygrad_bp import nn, trace
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

# The same network trained with a recorded step (docs/speed.md): the graph of one
# step is traced once, then replayed on the current weights at every step, giving
# the eager engine's gradients bit for bit without building the graph again.
traced = nn.ValueMLP([2, 4, 1], activation="tanh", output="linear", seed=0)


def batch_loss(xs, ds):
    """Mean binary cross-entropy from logits z: softplus(z) - d z."""
    total = 0.0
    for x, d in zip(xs, ds):
        (z,) = traced(x)
        total = total + z.softplus() - z * d
    return total / len(xs)


inputs, targets = X.tolist(), y.tolist()
step = trace(batch_loss, inputs, targets, params=traced.parameters())
eager = batch_loss(inputs, targets)
eager.backward()
assert step(inputs, targets).grads == [p.grad for p in traced.parameters()]
optimizer = Adam(traced.parameters(), lr=0.1)
for _ in range(150):
    optimizer.zero_grad()
    loss = step.backward(inputs, targets)
    optimizer.step()
print(f"traced training: loss {loss:.6f} after 150 steps ({step.n_nodes} nodes replayed each)")
assert ((predict(traced, X)[:, 0] > 0) == (y > 0.5)).all()
