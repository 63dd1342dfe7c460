"""`tinygrad-bp train`: train an MLP on a generated data set, save it, plot it."""

from __future__ import annotations

import argparse
import sys

from ..engine.ops import activation, activation_names
from ..nn import MLP, ModelFileError, ValueMLP
from ..nn.data import DATASETS
from ..nn.losses import LOSSES
from ..nn.optim import OPTIMIZERS
from ..nn.train import estimate_value_seconds, fit, score
from .args import layer_sizes, positive

CLASSIFICATION = {"xor", "moons", "spirals"}
VALUE_LIMIT_SECONDS = 120.0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP on a generated data set (xor, sine, moons, spirals)",
        description="Train a multilayer perceptron with mini-batches, show the loss as it "
        "falls, print the final accuracy (or error), and optionally save the model (.npz) "
        "and plot the loss curve and, for 2-D data, the decision boundary (needs matplotlib: "
        "pip install 'tinygrad-bp[plot]').",
    )
    p.add_argument("--data", choices=sorted(DATASETS), default="moons", help="data set (moons)")
    p.add_argument(
        "--samples",
        type=positive(int),
        default=None,
        help="number of samples (default 200; xor: 4)",
    )
    p.add_argument("--noise", type=float, default=None, help="noise level (data set's default)")
    p.add_argument(
        "--layers",
        type=layer_sizes(None, "2,16,16,1"),
        default=None,
        help="layer sizes, inputs first (default 2,16,16,1; sine 1,16,16,1)",
    )
    p.add_argument(
        "--activation",
        type=activation_arg,
        default="tanh",
        metavar="NAME",
        help=f"hidden activation (tanh): {activation_names()}; with a parameter as "
        "leaky_relu(0.2) or elu(1.5)",
    )
    p.add_argument(
        "--output-activation",
        type=activation_arg,
        default="linear",
        metavar="NAME",
        help="output activation (linear; bce and ce apply the sigmoid/softmax)",
    )
    p.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default=None,
        help="bce (default for classification), ce, mse (default for sine), half_sse",
    )
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="(adam)")
    p.add_argument("--lr", type=positive(float), default=0.05, help="learning rate (0.05)")
    p.add_argument("--epochs", type=positive(int), default=200, help="passes over the data (200)")
    p.add_argument(
        "--batch-size",
        type=positive(int),
        default=32,
        help="mini-batch size (32); 1 gives the slides' online updates",
    )
    p.add_argument("--engine", choices=("tensor", "value"), default="tensor", help="(tensor)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, weights and shuffling (0)")
    p.add_argument("--save", metavar="FILE.npz", help="save the trained model")
    p.add_argument("--plot", metavar="FILE.png", help="plot loss curve and decision boundary")
    p.add_argument(
        "--force",
        action="store_true",
        help="train with the Value engine even when it would take minutes",
    )
    p.set_defaults(run=run)


def activation_arg(text: str):
    try:
        return activation(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fail(message: str) -> int:
    print(f"tinygrad-bp train: {message}", file=sys.stderr)
    return 2


class Progress:
    """One line on a terminal (redrawn), or a line every tenth of the run otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def __call__(self, epoch: int, epochs: int, loss: float) -> None:
        width = 24
        done = int(width * epoch / epochs)
        bar = "#" * done + "." * (width - done)
        line = f"epoch {epoch:>{len(str(epochs))}}/{epochs} [{bar}] loss {loss:.5f}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if epoch == epochs else ""))
            self.stream.flush()
        elif epoch == epochs or epoch % max(1, epochs // 10) == 0:
            print(line, file=self.stream)


def run(args: argparse.Namespace) -> int:
    make = DATASETS[args.data]
    kwargs = {"seed": args.seed}
    if args.samples is not None:
        kwargs["n"] = args.samples
    if args.noise is not None:
        if args.noise < 0:
            return fail("--noise must be >= 0")
        kwargs["noise"] = args.noise
    X, y = make(**kwargs)
    classification = args.data in CLASSIFICATION
    loss = args.loss or ("bce" if classification else "mse")
    sizes = args.layers or [X.shape[1], 16, 16, 1]
    if sizes[0] != X.shape[1]:
        return fail(f"--layers starts with {sizes[0]} inputs, but {args.data} has {X.shape[1]}")
    if loss in ("bce", "ce") and not classification:
        return fail(f"--loss {loss} needs class labels; {args.data} is a regression data set")
    if loss == "bce" and sizes[-1] != 1:
        return fail(f"--loss bce needs one output (a logit), got {sizes[-1]}")
    if loss == "ce" and sizes[-1] < 2:
        return fail("--loss ce needs one output per class (2 or more)")
    if args.engine == "value":
        seconds = estimate_value_seconds(sizes, len(X), args.epochs)
        if seconds > VALUE_LIMIT_SECONDS and not args.force:
            return fail(
                f"the Value engine would take about {seconds / 60:.0f} minutes here "
                f"({len(X)} samples x {args.epochs} epochs, one graph node per number); "
                "use --engine tensor (seconds), fewer samples or epochs, or --force"
            )
    cls = ValueMLP if args.engine == "value" else MLP
    model = cls(sizes, args.activation, args.output_activation, seed=args.seed)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), args.lr)
    print(
        f"training a {model.describe()} MLP ({args.engine} engine) on {len(X)} samples of "
        f"{args.data}: {loss} loss, {args.optimizer}, lr {args.lr:g}, batch {args.batch_size}"
    )
    history = fit(
        model, X, y, loss, optimizer, args.epochs, args.batch_size, args.seed, progress=Progress()
    )
    metric, value = score(model, X, y, loss)
    shown = f"{value:.1%}" if metric == "accuracy" else f"{value:.5f}"
    print(
        f"done in {history.seconds:.2f} s: final loss {history.losses[-1]:.5f}, "
        f"training {metric} {shown}"
    )
    if args.save:
        try:
            print(f"saved {model.save(args.save)}")
        except ModelFileError as exc:
            return fail(str(exc))
    if args.plot:
        from ..views.plot import PlotUnavailable, plot_training

        try:
            print(f"plotted {plot_training(model, X, y, history, loss, args.plot)}")
        except PlotUnavailable as exc:
            print(f"note: {exc}", file=sys.stderr)
    return 0
