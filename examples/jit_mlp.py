"""Train a small MLP with a jitted training step, and time it against the eager ones.

    python examples/jit_mlp.py

The step is one pure function -- loss and gradient through model.apply(params, x),
then the functional Adam core -- compiled once by cr.jit
(chainrule.nn.train.jit_train_step) and called per batch.  The same training runs
three ways: the PyTorch idiom on the tape (loss.backward(); opt.step()), the pure step
called eagerly, and the pure step jitted; the jitted parameters equal the eager ones.
See docs/jit.md.
"""
import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")  # tiny matrices: one BLAS thread is fastest (before numpy loads)

import time  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.nn import functional as F  # noqa: E402
from chainrule.nn.train import jit_train_step  # noqa: E402

SIZES, BATCH, EPOCHS, LR = [16, 64, 64, 4], 32, 8, 3e-3


def data(n=1024, seed=0):
    """Four classes of points in 16 dimensions, separable by a random linear map."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, SIZES[0]))
    y = np.argmax(X @ rng.standard_normal((SIZES[0], SIZES[-1])), axis=1)
    return X, y


def batches(X, y, epoch):
    order = np.random.default_rng(epoch).permutation(len(X))
    for start in range(0, len(X), BATCH):   # 1024 = 32 batches of 32: one batch shape, one trace
        idx = order[start:start + BATCH]
        yield X[idx], y[idx]


def train_tape(X, y):
    model = cr.nn.MLP(SIZES, activation="tanh", rng=0)
    opt = cr.optim.Adam(model.parameters(), lr=LR)
    seconds = []
    for epoch in range(EPOCHS):
        t0 = time.perf_counter()
        for xb, yb in batches(X, y, epoch):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t0)
    return model.params(), loss.item(), seconds


def train_pure(X, y, jit):
    model = cr.nn.MLP(SIZES, activation="tanh", rng=0)
    core = cr.optim.adam(lr=LR)
    if jit:
        step = jit_train_step(model, F.cross_entropy, core)
    else:
        def step(params, state, xb, yb):
            loss, grads = cr.value_and_grad(lambda p: F.cross_entropy(model.apply(p, xb), yb))(params)
            params, state = core.update(grads, state, params)
            return params, state, loss
    params = model.params()
    state = core.init(params)
    seconds = []
    for epoch in range(EPOCHS):
        t0 = time.perf_counter()
        for xb, yb in batches(X, y, epoch):
            params, state, loss = step(params, state, xb, yb)
        seconds.append(time.perf_counter() - t0)
    return params, float(loss), seconds, getattr(step, "traces", None)


def main():
    X, y = data()
    tape_params, tape_loss, tape_s = train_tape(X, y)
    eager_params, eager_loss, eager_s, _ = train_pure(X, y, jit=False)
    jit_params, jit_loss, jit_s, traces = train_pure(X, y, jit=True)

    model = cr.nn.MLP(SIZES, activation="tanh", rng=0)
    acc = float(np.mean(np.argmax(model.apply(jit_params, X), axis=1) == y))
    print(f"MLP {SIZES}, Adam lr {LR}, {EPOCHS} epochs of {len(X) // BATCH} batches of {BATCH}")
    print(f"final loss: tape {tape_loss:.6f}, eager step {eager_loss:.6f}, jitted step {jit_loss:.6f}; "
          f"train accuracy {acc:.1%}")
    worst = max(float(np.max(np.abs(jit_params[k] - eager_params[k]))) for k in eager_params)
    worst_tape = max(float(np.max(np.abs(jit_params[k] - tape_params[k]))) for k in tape_params)
    print(f"largest parameter difference, jitted vs eager step: {worst:.1e}; vs tape: {worst_tape:.1e}")
    assert worst < 1e-8 and worst_tape < 1e-8
    print(f"the jitted step was traced {traces} time(s) (the first epoch includes that)")
    # per epoch: the best of the epochs after the first (the first also traces and compiles)
    best = {name: min(s[1:]) for name, s in (("tape", tape_s), ("eager", eager_s), ("jit", jit_s))}
    print(f"epoch time (best of {EPOCHS - 1}): tape {best['tape'] * 1e3:.1f} ms, eager step "
          f"{best['eager'] * 1e3:.1f} ms, jitted step {best['jit'] * 1e3:.1f} ms; first jitted epoch "
          f"{jit_s[0] * 1e3:.1f} ms")
    print(f"speedup of the jitted step: {best['tape'] / best['jit']:.2f}x vs the tape, "
          f"{best['eager'] / best['jit']:.2f}x vs the same step eager")


if __name__ == "__main__":
    main()
