"""`tinygrad-bp train`: train an MLP on a generated data set, report what each figure
means, save the model, plot the run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..engine.ops import activation, activation_names
from ..engine.trace import MAX_NODES as MAX_TRACE_NODES
from ..formatting import dumps, fmt
from ..nn import MLP, ValueMLP
from ..nn.data import DATASETS
from ..nn.losses import LOSSES
from ..nn.optim import OPTIMIZERS
from ..nn.train import (
    TrainingDiverged,
    estimate_tensor_seconds,
    estimate_value_seconds,
    evaluate,
    fit,
    score,
    split,
    value_nodes_per_sample,
)
from .args import activation_spec, bounded, layer_sizes, positive

CLASSIFICATION = {"xor", "moons", "spirals"}
TIME_LIMIT_SECONDS = 120.0  # either engine: longer runs need --force
MAX_SAMPLES = 1_000_000
MAX_PARAMETERS = 2_000_000


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train an MLP on a generated data set (xor, sine, moons, spirals)",
        description="Train a multilayer perceptron with mini-batches on a seeded data set. "
        "A random part of the data (--holdout, 20% by default) is kept out of training; the "
        "report gives the loss and accuracy (or mean squared error) on the training part "
        "and on that held-out part, which estimates how the model does on new data. "
        "--save and --plot write into the --out folder (out/) unless given a path.",
    )
    p.add_argument("--data", choices=sorted(DATASETS), default="moons", help="data set (moons)")
    p.add_argument(
        "--samples",
        type=positive(int),
        default=None,
        help=f"number of samples (default 200; xor: 4); at most {MAX_SAMPLES:,} without --force",
    )
    p.add_argument(
        "--noise", type=bounded(float, 0.0), default=None, help="noise level (data set's default)"
    )
    p.add_argument(
        "--layers",
        type=layer_sizes(None, "2,16,16,1"),
        default=None,
        help="layer sizes, inputs first (default 2,16,16,1; sine 1,16,16,1)",
    )
    p.add_argument(
        "--activation",
        type=activation_spec,
        default="tanh",
        metavar="NAME",
        help=f"hidden activation (tanh): {activation_names()}; parameters as "
        "leaky_relu(0.2) or elu(1.5)",
    )
    p.add_argument(
        "--output-activation",
        type=activation_spec,
        default="linear",
        metavar="NAME",
        help="output activation (linear; bce and ce apply the sigmoid/softmax themselves)",
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
    p.add_argument(
        "--holdout",
        type=bounded(float, 0.0, 1.0, high_included=False),
        default=0.2,
        help="fraction of the data kept out of training to measure it (0.2; 0 to use all)",
    )
    p.add_argument("--engine", choices=("tensor", "value"), default="tensor", help="(tensor)")
    p.add_argument(
        "--trace",
        action="store_true",
        help="record one batch's graph, replay it at every step (the same numbers, "
        "faster; with --engine value not with --loss ce)",
    )
    p.add_argument(
        "--seed",
        type=bounded(int, 0, 2**32, high_included=False),
        default=0,
        help="seed of data, split, weights and shuffling (0)",
    )
    p.add_argument("--out", default="out", metavar="DIR", help="folder for --save/--plot (out)")
    p.add_argument(
        "--save",
        nargs="?",
        const="",
        metavar="FILE.npz",
        help="save the trained model (alone: OUT/model.npz); tinygrad-bp predict reads it",
    )
    p.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="FILE.png",
        help="plot losses, gradient norm per layer and the decision boundary at a few "
        "epochs (alone: OUT/training.png; needs matplotlib)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the results as JSON (progress lines only on a terminal)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train even when it is big or would take minutes (Value engine, many samples)",
    )
    p.set_defaults(run=run)


class Progress:
    """One line on a terminal (redrawn), or a line every tenth of the run otherwise."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def __call__(self, epoch: int, epochs: int, loss: float) -> None:
        width = 24
        done = int(width * epoch / epochs)
        bar = "#" * done + "." * (width - done)
        line = (
            f"epoch {epoch:>{len(str(epochs))}}/{epochs} [{bar}] training loss {fmt(loss, '.5g')}"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if epoch == epochs else ""))
            self.stream.flush()
        elif epoch == epochs or epoch % max(1, epochs // 10) == 0:
            print(line, file=self.stream)


def _output_path(given: str | None, folder: str, default: str) -> Path | None:
    if given is None:
        return None
    path = Path(given) if given else Path(folder) / default
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot make the folder {path.parent} ({exc.strerror or exc}); see --out"
        ) from None
    if path.is_dir():
        raise ValueError(
            f"{path} is a folder, expected a file name; give a file name like model.npz"
        )
    return path


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return a.samefile(b)
    return a.resolve() == b.resolve()


def _check(args: argparse.Namespace, sizes: list[int], n: int, loss: str, n_in: int) -> None:
    """Refuse, before any work, what cannot train or would take too long."""
    if sizes[0] != n_in:
        raise ValueError(
            f"--layers starts with {sizes[0]} inputs, but --data {args.data} has {n_in} "
            f"features; start --layers with {n_in}"
        )
    if loss in ("bce", "ce") and args.data not in CLASSIFICATION:
        raise ValueError(
            f"--loss {loss} needs class labels, but --data {args.data} is a regression data set; "
            "use --loss mse, or --data xor, moons or spirals"
        )
    if loss == "bce" and sizes[-1] != 1:
        raise ValueError(
            f"--loss bce needs one output (a logit), got {sizes[-1]}; end --layers with 1 "
            "or use --loss ce"
        )
    if loss == "ce" and sizes[-1] < 2:
        raise ValueError(
            f"--loss ce needs one output per class (2 or more), got {sizes[-1]}; end --layers "
            "with the number of classes or use --loss bce"
        )
    if loss in ("bce", "ce") and activation(args.output_activation).name == "sigmoid":
        squash = "sigmoid" if loss == "bce" else "softmax"
        raise ValueError(
            f"--loss {loss} applies the {squash} to the outputs itself; with "
            "--output-activation sigmoid the outputs would be squashed twice: leave "
            "--output-activation out (linear)"
        )
    n_params = sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))
    if n_params > MAX_PARAMETERS and not args.force:
        raise ValueError(
            f"--layers {','.join(map(str, sizes))} has {n_params:,} parameters, over the "
            f"limit of {MAX_PARAMETERS:,}; use smaller layers, or --force"
        )
    if args.trace and args.engine == "value" and loss == "ce":
        raise ValueError(
            "--trace cannot replay --loss ce on Values (each class label picks which output "
            "enters the loss, so the graph changes with the labels); drop --trace, or use "
            "--engine tensor"
        )
    if args.trace and args.engine == "value":
        nodes = value_nodes_per_sample(sizes) * min(args.batch_size, n)
        if nodes > MAX_TRACE_NODES:
            raise ValueError(
                f"--trace records one batch, here about {nodes:,} nodes, over the limit of "
                f"{MAX_TRACE_NODES:,} a trace compiles in a few seconds; use a smaller "
                "--batch-size, or drop --trace"
            )
    if args.engine == "value":
        seconds = estimate_value_seconds(sizes, n, args.epochs)
        if seconds > TIME_LIMIT_SECONDS and not args.force:
            raise ValueError(
                f"the Value engine would take about {_duration(seconds)} here "
                f"({n} samples x {args.epochs} epochs, one graph node per number); "
                "use --engine tensor (seconds), fewer --samples or --epochs, or --force"
            )
    if args.engine == "tensor":
        seconds = estimate_tensor_seconds(sizes, n, args.epochs, args.batch_size)
        if seconds > TIME_LIMIT_SECONDS and not args.force:
            raise ValueError(
                f"training would take about {_duration(seconds)} here ({args.epochs:,} epochs "
                f"of {n:,} samples in batches of {min(args.batch_size, n)}, "
                f"--layers {','.join(map(str, sizes))}); use fewer --epochs, a larger "
                "--batch-size or smaller --layers, or --force"
            )
    if args.plot is not None:
        from ..views.plot import FORMATS, PlotUnavailable, require_matplotlib

        if args.plot and Path(args.plot).suffix.lower().lstrip(".") not in FORMATS:
            raise ValueError(f"--plot {args.plot}: give a file ending in .png, .svg or .pdf")
        try:
            require_matplotlib()
        except PlotUnavailable as exc:
            raise ValueError(f"--plot: {exc}; or leave out --plot") from None


def _duration(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:,.0f} hours"


def run(args: argparse.Namespace) -> int:
    samples = args.samples if args.samples is not None else (4 if args.data == "xor" else 200)
    if samples > MAX_SAMPLES and not args.force:
        raise ValueError(
            f"--samples {samples:,} is over the limit of {MAX_SAMPLES:,}; "
            "use fewer, or --force to go on"
        )
    kwargs = {"seed": args.seed, "n": samples}
    if args.noise is not None:
        kwargs["noise"] = args.noise
    X, y = DATASETS[args.data](**kwargs)
    loss = args.loss or ("bce" if args.data in CLASSIFICATION else "mse")
    sizes = args.layers or [X.shape[1], 16, 16, 1]
    X_train, y_train, X_held, y_held = split(X, y, args.holdout, args.seed)
    _check(args, sizes, len(X_train), loss, X.shape[1])
    save = _output_path(args.save, args.out, "model.npz")  # folders made before training
    plot = _output_path(args.plot, args.out, "training.png")
    if save is not None and plot is not None and _same_file(save, plot):
        raise ValueError(
            f"--save and --plot both name {save}: the plot would replace the model; "
            "give them different file names"
        )
    cls = ValueMLP if args.engine == "value" else MLP
    model = cls(sizes, args.activation, args.output_activation, seed=args.seed)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), args.lr)
    held = f"{len(X_held)} held out" if len(X_held) else "none held out (--holdout 0 or too few)"
    say = (lambda *a: None) if args.json else print
    say(
        f"training a {model.describe()} MLP ({args.engine} engine) on {len(X_train)} of "
        f"{len(X)} {args.data} samples ({held}): {loss} loss, {args.optimizer}, "
        f"lr {args.lr:g}, batch {args.batch_size}"
    )
    epochs = args.epochs
    snapshots = sorted({1, max(1, round(epochs * 0.1)), max(1, round(epochs * 0.4)), epochs})
    try:
        history = fit(
            model,
            X_train,
            y_train,
            loss,
            optimizer,
            epochs,
            args.batch_size,
            args.seed,
            progress=Progress() if not args.json or sys.stderr.isatty() else None,
            holdout=(X_held, y_held),
            snapshot_epochs=snapshots if args.plot is not None and X.shape[1] == 2 else (),
            trace=args.trace,
        )
    except (TrainingDiverged, OverflowError, FloatingPointError) as exc:
        raise TrainingDiverged(
            f"{exc}; nothing was saved; try a smaller --lr (now {args.lr:g})"
        ) from None
    results = _results(model, loss, X_train, y_train, X_held, y_held)
    report = {
        "model": model.describe(),
        "engine": args.engine,
        "trace": args.trace,
        "data": args.data,
        "samples": {"training": len(X_train), "held_out": len(X_held)},
        "loss": loss,
        "epochs": epochs,
        "seconds": history.seconds,
        "results": results,
        "training_loss_per_epoch": history.losses,
        "held_out_loss_per_epoch": history.holdout_losses,
    }
    say(f"done in {history.seconds:.2f} s ({epochs} epochs):")
    for name, (value, meaning) in results.items():
        shown = f"{value:.1%}" if "accuracy" in name else fmt(value, ".5g")
        say(f"  {name.replace('held_out', 'held-out').replace('_', ' '):<18} {shown:<9} {meaning}")
    if history.losses[-1] > history.losses[0]:
        print(
            f"note: the training loss rose from {fmt(history.losses[0], '.5g')} to "
            f"{fmt(history.losses[-1], '.5g')}: the learning rate may be too large (--lr)",
            file=sys.stderr,
        )
    if save is not None:
        report["saved"] = str(model.save(save))
        say(f"saved {save} (use it: tinygrad-bp predict {save} INPUT.csv)")
    if plot is not None:
        from ..views.plot import plot_training

        report["plot"] = str(plot_training(model, X_train, y_train, history, loss, plot))
        say(f"plotted {plot}")
    if args.json:
        report["results"] = {k: v for k, (v, _) in results.items()}
        print(dumps(report))
    return 0


def _results(model, loss, X_train, y_train, X_held, y_held) -> dict[str, tuple[float, str]]:
    """Each reported figure with a line that says what it is."""
    n, m = len(X_train), len(X_held)
    out = {
        "training_loss": (
            evaluate(model, X_train, y_train, loss),
            f"mean {loss} loss of the final weights on the {n} training samples",
        )
    }
    metric, value = score(model, X_train, y_train, loss)
    what = "fraction classified right" if metric == "accuracy" else "mean squared error"
    out[f"training_{metric}"] = (value, f"{what} on the same {n} samples")
    if m:
        out["held_out_loss"] = (
            evaluate(model, X_held, y_held, loss),
            f"mean {loss} loss on the {m} samples kept out of training",
        )
        out[f"held_out_{metric}"] = (
            score(model, X_held, y_held, loss)[1],
            f"{what} on those {m}: what to expect on new data",
        )
    return out
