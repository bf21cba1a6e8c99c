"""``chainrule train digits``: an MLP on scikit-learn's bundled 8x8 digits, offline.

The data set ships with scikit-learn (1797 images, 10 classes), so nothing is
downloaded.  The command trains ``cr.nn.MLP([64, 128, 10], activation="relu")`` with Adam on
mini-batches, the PyTorch way (``loss.backward()``, ``opt.step()``), shows a tqdm
progress bar with the loss and accuracies, saves the model to ``.npz`` and plots
the loss and accuracy curves with matplotlib (its object API: no display needed, and the
user's backend is left alone).

Optional extras: ``datasets`` (scikit-learn, tqdm) and ``viz`` (matplotlib); a
missing one is named with the command that installs it, and the exit status is 2.

Nothing is lost: the arguments are checked before anything runs (exit 2, as
argparse does); after every epoch the model, the optimiser and the history are
saved atomically to ``digits_checkpoint.npz`` (``--resume`` continues from it);
Ctrl-C or SIGTERM stops with one line and exit status 130, keeping the last
epoch's checkpoint; a loss that becomes NaN or infinite stops the run with
exit status 1 instead of saving a broken model.

``train_digits`` is the same run as a function, for scripts and notebooks.
``--jit`` (``train_digits(jit=True)``) trains with :func:`jit_train_step`
instead: one pure step through ``model.apply`` and the functional Adam core,
compiled by ``cr.jit`` and called per batch.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

__all__ = ["add_train_command", "load_digits", "train_digits", "plot_history", "TrainResult",
           "jit_train_step", "TrainStep"]

DATASETS_HINT = "pip install 'chainrule[datasets]'"
VIZ_HINT = "pip install 'chainrule[viz]'"


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


class Diverged(FloatingPointError):
    """The training loss became NaN or infinite; ``epoch`` is the 1-based epoch where it did."""

    def __init__(self, epoch, loss):
        super().__init__(f"the training loss became {loss} in epoch {epoch}")
        self.epoch, self.loss = epoch, loss


def _require(module, what, hint):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{what} needs {module.split('.')[0]}, which is not installed: {hint}") from None


def load_digits(seed=0, test_size=0.2):
    """``(X_train, X_test, y_train, y_test)``: pixels scaled to [0, 1], a stratified split."""
    datasets = _require("sklearn.datasets", "the digits data set", DATASETS_HINT)
    model_selection = _require("sklearn.model_selection", "the digits data set", DATASETS_HINT)
    X, y = datasets.load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float64)
    return model_selection.train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)


class TrainResult:
    """What ``train_digits`` returns: the model, the per-epoch ``history``, accuracy and time."""

    __slots__ = ("model", "history", "test_accuracy", "seconds", "samples_per_second")

    def __init__(self, model, history, test_accuracy, seconds, samples_per_second):
        self.model, self.history, self.test_accuracy = model, history, test_accuracy
        self.seconds, self.samples_per_second = seconds, samples_per_second

    def __repr__(self):
        return (f"TrainResult(test_accuracy={self.test_accuracy:.4f}, seconds={self.seconds:.2f}, "
                f"epochs={len(self.history['loss'])})")


def accuracy(model, X, y, params=None):
    """The fraction of ``X`` that ``model`` classifies as ``y`` (no recording).

    ``params`` (a dict by path, as ``model.params()``) stands in for the model's own.
    """
    logits = model.apply(model.params() if params is None else params, X)
    return float(np.mean(np.argmax(logits, axis=1) == y))


# -- a compiled training step ------------------------------------------------------------------

class TrainStep:
    """A training step compiled by ``cr.jit``: ``params, state, loss = step(params, state, x, *targets)``.

    Made by :func:`jit_train_step`.  ``params`` is a dict by path (as
    ``model.params()`` gives) and ``state`` the optimiser core's (``opt.init(params)``);
    both come back new, and the model's own parameters are untouched
    (``model.load_state_dict(params)`` writes them back).  The first call traces and
    compiles; later calls with the same batch shape run the compiled code, so
    ``traces`` is 1 -- or 2 when the last batch of an epoch is smaller.  ``opt.lr`` is
    passed to the compiled step on every call (a schedule never retraces); the other
    hyperparameters are read when it traces.  ``model.train()`` / ``model.eval()``
    switch between two compiled steps (the model's ``training`` flag is a static
    argument; a submodule's own flag set apart from the model's is read when it traces).
    ``lower(params, state, x, *targets)`` is the compiled graph (``.ir``, ``.source``);
    ``jitted`` the ``cr.jit`` function, of ``(params, state, lr, training, x, *targets)``.

    With ``sync`` (``cr.distributed.mean_gradients`` for data parallelism) the gradients
    pass through ``sync`` between two compiled halves -- a collective cannot run inside
    compiled code: ``jitted`` (and ``lower``, ``traces``) is then the gradient half, of
    ``(params, training, x, *targets)``, and the update is compiled apart.
    """

    __slots__ = ("model", "loss_fn", "opt", "jitted", "sync", "_update")

    def __init__(self, model, loss_fn, opt, sync=None):
        self.model, self.loss_fn, self.opt, self.sync = model, loss_fn, opt, sync
        import chainrule as cr
        if sync is None:
            self.jitted, self._update = cr.jit(_pure_step(model, loss_fn, opt), static_argnums=3), None
        else:
            self.jitted = cr.jit(_pure_grad(model, loss_fn), static_argnums=1)
            self._update = cr.jit(_pure_update(opt))

    def init(self):
        """``(params, state)`` to start from: the model's parameters and the optimiser's initial state."""
        params = self.model.params()
        return params, self.opt.init(params)

    def __call__(self, params, state, *batch):
        lr = float(self.opt.lr)
        if self._update is None:
            return self.jitted(params, state, lr, self.model.training, *batch)
        loss, grads = self.jitted(params, self.model.training, *batch)
        params, state = self._update(params, state, lr, self.sync(grads))
        return params, state, loss

    @property
    def traces(self):
        """How many times the step (with ``sync``: its gradient half) was traced (once per batch shape)."""
        return self.jitted.traces

    def lower(self, params, state, *batch):
        """The compiled graph of the step (with ``sync``: of its gradient half) for these arguments:
        ``.ir``, ``.raw_ir``, ``.source``."""
        if self._update is not None:
            return self.jitted.lower(params, self.model.training, *batch)
        return self.jitted.lower(params, state, float(self.opt.lr), self.model.training, *batch)

    def __repr__(self):
        return (f"TrainStep({type(self.model).__name__}, {getattr(self.loss_fn, '__name__', self.loss_fn)}, "
                f"{self.opt!r}, traces={self.traces})")


def _pure_step(model, loss_fn, opt):
    """``(params, state, lr, training, x, *targets) -> (params, state, loss)``: pure, for ``cr.jit``.

    ``training`` (the model's flag) is only a cache key: the modules read their own.
    """
    grad, update = _pure_grad(model, loss_fn), _pure_update(opt)

    def train_step(params, state, lr, training, x, *targets):
        loss, grads = grad(params, training, x, *targets)
        params, state = update(params, state, lr, grads)
        return params, state, loss
    return train_step


def _pure_grad(model, loss_fn):
    """``(params, training, x, *targets) -> (loss, grads)``: pure, for ``cr.jit``."""
    import chainrule as cr

    def loss_and_grads(params, training, x, *targets):
        _refuse_random_layers(model)
        return cr.value_and_grad(lambda p: loss_fn(model.apply(p, x), *targets))(params)
    return loss_and_grads


def _pure_update(opt):
    """``(params, state, lr, grads) -> (params, state)``: pure, for ``cr.jit``."""
    def update(params, state, lr, grads):
        saved, opt.lr = opt.lr, lr  # traced: the compiled step reads the rate it is given
        try:
            return opt.update(grads, state, params)
        finally:
            opt.lr = saved
    return update


def _refuse_random_layers(model):
    """Raise for a layer that would draw random numbers while the step is traced (once, for good)."""
    from chainrule.nn.layers import Dropout
    for path, m in model.named_modules():
        if isinstance(m, Dropout) and m.training and m.p > 0.0:
            where = f" ({path})" if path else ""
            raise ValueError(
                f"jit_train_step: {type(m).__name__}{where} is in training mode; its random mask would be "
                f"drawn once, when the step is traced, and reused on every step. Call model.eval() to "
                f"train without it, or write the step yourself and pass the mask (or a key) in as an "
                f"argument (docs/jit.md, Sharp bits: random numbers)")


def jit_train_step(model, loss_fn, opt, sync=None):
    """A :class:`TrainStep`: one step of ``opt`` on ``loss_fn(model.apply(params, x), *targets)``, jitted.

    ``model`` is a ``cr.nn.Module``, ``loss_fn(output, *targets)`` a loss such as
    ``F.cross_entropy``, and ``opt`` an optimiser's functional core
    (``cr.optim.sgd``, ``adam``, ``adamw``).  The step is traced once per batch
    shape and then runs as compiled code; its updates equal the eager
    ``opt.update`` on the same gradients.  ``sync(grads) -> grads``, when given
    (``cr.distributed.mean_gradients`` for data-parallel training), runs between the
    gradient and the update, which are then compiled apart (see :class:`TrainStep`).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.nn import functional as F
    >>> from chainrule.nn.train import jit_train_step
    >>> model = cr.nn.MLP([3, 8, 1], activation="tanh", rng=0)
    >>> step = jit_train_step(model, F.mse_loss, cr.optim.adam(lr=0.01))
    >>> params, state = step.init()
    >>> x, y = np.random.default_rng(0).standard_normal((16, 3)), np.ones((16, 1))
    >>> for _ in range(100):
    ...     params, state, loss = step(params, state, x, y)
    >>> bool(loss < 0.01), step.traces, int(state["step"])
    (True, 1, 100)
    """
    from chainrule.optim.functional import FunctionalOptimizer
    if not isinstance(opt, FunctionalOptimizer):
        hint = " (its .core is one, but a step needs its own state: opt.core.init(params))" \
            if hasattr(opt, "core") else ""
        raise TypeError(f"jit_train_step: opt must be an optimiser's functional core -- cr.optim.sgd(...), "
                        f"adam(...) or adamw(...) -- got {type(opt).__name__}{hint}")
    if not callable(getattr(model, "apply", None)) or not callable(getattr(model, "params", None)):
        raise TypeError(f"jit_train_step: model must be a cr.nn.Module (it needs .apply and .params), "
                        f"got {type(model).__name__}")
    if sync is not None and not callable(sync):
        raise TypeError(f"jit_train_step: sync must be a function of the gradients, such as "
                        f"cr.distributed.mean_gradients, got {type(sync).__name__}")
    return TrainStep(model, loss_fn, opt, sync)


def _blas_threads(threads):
    """A context limiting the BLAS to ``threads`` threads (``None`` or 0: as it is).

    The matrices of a small MLP are far too small to split between threads: on a
    machine with other work, a multithreaded BLAS makes every step wait for its
    threads (three to five times slower here).  Uses threadpoolctl, which
    scikit-learn (the ``datasets`` extra) brings; without it, nothing is limited.
    """
    import contextlib
    if not threads:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


def train_digits(epochs=40, batch_size=32, lr=1e-3, hidden=(128,), activation="relu", seed=0,
                 progress=True, data=None, threads=1, jit=False):
    """Train an MLP on the digits; returns a :class:`TrainResult`.

    ``progress=True`` shows a tqdm bar (needs the ``datasets`` extra, as the data do).
    ``threads`` limits the BLAS while training (default 1, the fastest for this
    small model; ``None`` leaves it as it is).  ``jit=True`` trains with a compiled
    step (:func:`jit_train_step`, the functional Adam core) instead of the tape and
    ``cr.optim.Adam``: the same updates, traced twice in all (the last batch of an
    epoch is smaller unless ``batch_size`` divides the training set).
    """
    with _blas_threads(threads):
        return _train_digits(epochs, batch_size, lr, hidden, activation, seed, progress, data, jit)


def _train_digits(epochs, batch_size, lr, hidden, activation, seed, progress, data, jit=False, checkpoint=None):
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule.nn import functional as F

    workers, me = dist.world_size(), dist.rank()
    progress = progress and me == 0

    X_train, X_test, y_train, y_test = data if data is not None else load_digits(seed)
    tqdm = _require("tqdm", "the progress bar", DATASETS_HINT).tqdm if progress else None
    rng = np.random.default_rng(seed)
    model = cr.nn.MLP([X_train.shape[1], *hidden, 10], activation=activation, rng=rng)
    if jit:  # under MPI the gradients are averaged between the compiled gradient and update
        step = jit_train_step(model, F.cross_entropy, cr.optim.adam(lr=lr),
                              sync=dist.mean_gradients if workers > 1 else None)
        params, state = step.init()
        if workers > 1:
            params = dist.broadcast(params)
    else:
        dp = dist.DataParallel(model) if workers > 1 else None
        opt = cr.optim.Adam(model.parameters(), lr=lr)
        params = None
    history = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    first = 0
    if checkpoint is not None and checkpoint.resume:
        first, history, state = checkpoint.restore(model, None if jit else opt, rng, state if jit else None)
        checkpoint.resumed_after = first
        params = model.params() if jit else None
    n = len(X_train)
    if workers > 1:
        batch_size = max(1, batch_size // workers)  # --batch-size stays the global batch
    epochs_iter = tqdm(range(first, epochs), desc="train digits", unit="epoch", file=sys.stderr,
                       initial=first, total=epochs) if progress else range(first, epochs)
    t0 = time.perf_counter()
    for epoch in epochs_iter:
        order = rng.permutation(n)
        total = 0.0
        if workers > 1:  # the same permutation on every rank; each takes its strided share
            order = order[:n // workers * workers][me::workers]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if jit:
                params, state, loss = step(params, state, X_train[idx], y_train[idx])
                total += float(loss) * len(idx)
                continue
            opt.zero_grad()
            loss = F.cross_entropy(model(X_train[idx]), y_train[idx])
            loss.backward()
            if dp is not None:
                dp.sync_gradients()
            opt.step()
            total += loss.item() * len(idx)
        if workers > 1:
            total = float(dist.allreduce(np.array(total), op="sum")) / (len(order) * workers) * n
        if not np.isfinite(total):
            raise Diverged(epoch + 1, total / n)
        history["loss"].append(total / n)
        history["train_accuracy"].append(accuracy(model, X_train, y_train, params))
        history["test_accuracy"].append(accuracy(model, X_test, y_test, params))
        if progress:
            epochs_iter.set_postfix(loss=f"{history['loss'][-1]:.4f}",
                                    train_acc=f"{history['train_accuracy'][-1]:.3f}",
                                    test_acc=f"{history['test_accuracy'][-1]:.3f}")
        if checkpoint is not None:
            if jit:
                model.load_state_dict(params)
            checkpoint.save(epoch + 1, model, None if jit else opt, rng, history, state if jit else None)
    seconds = max(time.perf_counter() - t0, 1e-9)
    if jit:
        model.load_state_dict(params)
    if progress:
        epochs_iter.close()
    return TrainResult(model, history, history["test_accuracy"][-1], seconds, (epochs - first) * n / seconds)


class Checkpoint:
    """The state of a ``chainrule train`` run after an epoch, in one ``.npz`` file written atomically.

    Under MPI every rank reads it on ``--resume`` (the ranks must share the file system) and
    only rank 0 writes it.  It holds the model's and the optimiser's state (the tape's ``Adam.state_dict()``, or
    the leaves of the jitted step's functional state), the batch-order generator's state,
    the history and the epoch, plus the run's settings, so ``--resume`` refuses a
    checkpoint from a run with other settings instead of mixing them.
    """

    def __init__(self, path, settings, resume=False):
        self.path, self.settings, self.resume = path, dict(settings), resume
        self.resumed_after = 0  # the epoch the run continued from (set by a resumed run)

    def save(self, epoch, model, opt, rng, history, state=None):
        """Write the state after ``epoch`` (under MPI only rank 0 writes; every rank restores)."""
        from chainrule import distributed as dist
        from chainrule._core.pytree import tree_flatten
        if not dist.is_main():
            return
        from chainrule.nn.serialization import save_arrays
        arrays = {f"model.{k}": np.asarray(v) for k, v in model.state_dict().items()}
        if opt is not None:
            arrays.update({f"opt.{k}": np.asarray(v) for k, v in opt.state_dict().items()})
        else:
            arrays.update({f"step.{i}": np.asarray(v) for i, v in enumerate(tree_flatten(state)[0])})
        meta = {"epoch": epoch, "settings": self.settings, "rng": rng.bit_generator.state, "history": history}
        arrays["meta"] = np.array(json.dumps(meta))
        save_arrays(arrays, self.path)

    def restore(self, model, opt, rng, state=None):
        """Load the checkpoint into ``model``, ``opt`` (or the jitted step's ``state``) and ``rng``;
        ``(epoch, history, state)``.  Raises ``ValueError`` naming what differs."""
        from chainrule._core.pytree import tree_flatten, tree_unflatten
        with np.load(self.path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
        meta = json.loads(str(data.pop("meta")))
        if meta["settings"] != self.settings:
            diff = {k: (meta["settings"].get(k), v) for k, v in self.settings.items() if meta["settings"].get(k) != v}
            raise ValueError(f"{self.path} was written by a run with other settings "
                             f"({', '.join(f'{k}: {a!r} there, {b!r} here' for k, (a, b) in diff.items())}); "
                             f"rerun with those settings, or without --resume to start afresh")
        model.load_state_dict({k[6:]: v for k, v in data.items() if k.startswith("model.")})
        if opt is not None:
            opt.load_state_dict({k[4:]: v for k, v in data.items() if k.startswith("opt.")})
        else:
            leaves, tree = tree_flatten(state)
            state = tree_unflatten(tree, [data[f"step.{i}"].astype(np.result_type(x)) for i, x in enumerate(leaves)])
        rng.bit_generator.state = meta["rng"]
        return int(meta["epoch"]), meta["history"], state


def plot_history(history, path=None):
    """The loss and accuracy curves as a matplotlib ``Figure``, written to ``path`` if given
    (PNG, SVG, ... by extension); needs matplotlib.

    The figure is made with matplotlib's object API (``matplotlib.figure.Figure``), not
    ``pyplot``: the user's backend is never changed (no ``matplotlib.use``), no window
    opens, and nothing is left in pyplot's figure list.  In a notebook the returned
    figure displays itself.
    """
    _require("matplotlib", "the plot of the training curves", VIZ_HINT)
    from matplotlib.figure import Figure

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig = Figure(figsize=(10, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, history["loss"], label="train loss")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.plot(epochs, history["train_accuracy"], label="train")
    ax_acc.plot(epochs, history["test_accuracy"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("chainrule: MLP on scikit-learn's digits")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


# -- the command -----------------------------------------------------------------------------

def add_train_command(subparsers):
    """Register ``chainrule train``."""
    p = subparsers.add_parser(
        "train", help="train an MLP on a bundled data set (digits)",
        description="Train an MLP on scikit-learn's bundled 8x8 digits (offline): a progress bar, the "
                    "test accuracy, the model saved to .npz and a plot of the loss and accuracy curves. "
                    f"Needs the datasets extra ({DATASETS_HINT}) and, for the plot, viz ({VIZ_HINT}).")
    from chainrule._argtypes import nonnegative_int, positive_float, positive_int
    from chainrule._launch import add_workers_argument
    from chainrule.nn.functional import _ACTIVATIONS
    p.add_argument("dataset", choices=["digits"], help="the data set")
    p.add_argument("--epochs", type=positive_int, default=40, help="passes over the training set (default 40)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="mini-batch size (default 32)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam's learning rate (default 1e-3)")
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[128], metavar="N",
                   help="hidden layer sizes (default 128)")
    p.add_argument("--activation", default="relu", choices=sorted(k for k in _ACTIVATIONS if k),
                   help="the hidden layers' activation (default relu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the batches")
    p.add_argument("--out-dir", default=".", help="where to write the model and the plot (default .)")
    p.add_argument("--no-plot", action="store_true", help="skip the plot (no matplotlib needed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--jit", action="store_true",
                   help="compile the training step with cr.jit (traced once per batch shape, then "
                        "called per batch; see docs/jit.md)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT_DIR/digits_checkpoint.npz (written after every epoch) instead "
                        "of starting afresh; the other settings must match the checkpoint's")
    add_workers_argument(p, "; --batch-size stays the global batch")
    p.add_argument("--threads", type=nonnegative_int, default=1, metavar="N",
                   help="BLAS threads while training (default 1, the fastest for small models; "
                        "0: leave the BLAS as it is)")
    p.set_defaults(handler=run)


class _Stopped(BaseException):
    """SIGTERM, turned into an exception so the run unwinds as on Ctrl-C."""


def run(args) -> int:
    """``chainrule train digits``; returns the exit status."""
    import chainrule as cr
    out_dir = args.out_dir
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        print(f"chainrule train: --out-dir {out_dir!r} is a file, not a folder", file=sys.stderr)
        return 2
    ckpt_path = os.path.join(out_dir, "digits_checkpoint.npz")
    resume = getattr(args, "resume", False)
    if resume and not os.path.isfile(ckpt_path):
        print(f"chainrule train: --resume found no checkpoint at {ckpt_path}", file=sys.stderr)
        return 2
    try:
        _require("sklearn", "chainrule train digits", DATASETS_HINT)
        _require("tqdm", "chainrule train digits", DATASETS_HINT)
        if not args.no_plot:
            _require("matplotlib", "the plot of chainrule train digits (or pass --no-plot)", VIZ_HINT)
    except MissingExtra as e:
        print(f"chainrule train: {e}", file=sys.stderr)
        return 2
    if args.epochs < 1 or args.batch_size < 1:
        print("chainrule train: --epochs and --batch-size must be at least 1", file=sys.stderr)
        return 2
    from chainrule._launch import relaunch
    status = relaunch(args, "chainrule train")
    if status is not None:
        return status
    jit = getattr(args, "jit", False)
    main_rank = cr.distributed.is_main()
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        print(f"chainrule train: cannot make --out-dir {out_dir!r}: {e.strerror}", file=sys.stderr)
        return 2
    settings = {"batch_size": args.batch_size, "lr": args.lr, "hidden": list(args.hidden),
                "activation": args.activation, "seed": args.seed, "jit": bool(jit),
                "workers": cr.distributed.world_size()}
    checkpoint = Checkpoint(ckpt_path, settings, resume=resume)

    def on_term(signum, frame):
        raise _Stopped()

    old = signal.signal(signal.SIGTERM, on_term) if hasattr(signal, "SIGTERM") else None
    try:
        with _blas_threads(args.threads):
            result = _train_digits(args.epochs, args.batch_size, args.lr, tuple(args.hidden), args.activation,
                                   args.seed, not args.quiet, None, jit, checkpoint)
    except (KeyboardInterrupt, _Stopped):
        kept = f"; the last finished epoch is in {ckpt_path} (continue with --resume)" \
            if os.path.isfile(ckpt_path) else ""
        print(f"\nchainrule train: interrupted{kept}", file=sys.stderr)
        return 130
    except Diverged as e:
        print(f"chainrule train: stopped: {e} (try a smaller --lr); no model was saved, and the checkpoint "
              f"keeps the last finite epoch", file=sys.stderr)
        return 1
    except ValueError as e:
        if not resume:
            raise
        if main_rank:  # every rank read the checkpoint and refused it alike
            print(f"chainrule train: --resume: {e}", file=sys.stderr)
        return 2
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    if not main_rank:  # only rank 0 saves and prints
        return 0
    model_path = os.path.join(out_dir, "digits_mlp.npz")
    cr.nn.save(result.model, model_path)
    how = ", jitted step" if getattr(args, "jit", False) else ""
    done = f"{args.epochs} epochs" if not checkpoint.resumed_after else \
        f"epochs {checkpoint.resumed_after + 1}-{args.epochs} (resumed after epoch {checkpoint.resumed_after})"
    print(f"digits: MLP({result.model.extra_repr()}), {done} in {result.seconds:.1f} s "
          f"({result.samples_per_second:,.0f} samples/s{how})")
    print(f"test accuracy {result.test_accuracy:.2%} (final train loss {result.history['loss'][-1]:.4f})")
    print(f"model saved to {model_path}")
    if not args.no_plot:
        plot_path = os.path.join(out_dir, "digits_curves.png")
        plot_history(result.history, plot_path)
        print(f"curves plotted in {plot_path}")
    return 0
