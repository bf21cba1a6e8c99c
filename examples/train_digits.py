"""An MLP on scikit-learn's bundled digits, offline: the recipe behind `chainrule train digits`.

    python examples/train_digits.py            # 40 epochs, about a second
    python examples/train_digits.py --quick    # 5 epochs (what the test suite runs)

Needs the `datasets` extra (pip install 'chainrule[datasets]'); the plot needs `viz`.
The training loop is the PyTorch idiom on chainrule's tape:

    opt.zero_grad(); loss = F.cross_entropy(model(xb), yb); loss.backward(); opt.step()

Then the trained model is saved to .npz, loaded into a fresh one, and its gradient is
taken functionally (model.apply + cr.grad) and per example (cr.vmap).
"""
import os
import sys
import tempfile

import numpy as np

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.nn.train import accuracy, load_digits, plot_history, train_digits


def main(argv):
    quick = "--quick" in argv or os.environ.get("CHAINRULE_QUICK")
    try:
        data = load_digits(seed=0)
    except ImportError as e:  # the datasets extra is missing: say how to get it, and skip
        print(e)
        return 0
    X_train, X_test, y_train, y_test = data
    print(f"digits: {len(X_train)} training and {len(X_test)} test images of 8x8 = 64 pixels, 10 classes")

    result = train_digits(epochs=5 if quick else 40, seed=0, progress=False, data=data)
    model = result.model
    print(f"{model!r}: {len(result.history['loss'])} epochs in {result.seconds:.2f} s "
          f"({result.samples_per_second:,.0f} samples/s), test accuracy {result.test_accuracy:.2%}")
    if not quick:
        assert result.test_accuracy >= 0.97

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits_mlp.npz")
        cr.nn.save(model, path)
        fresh = cr.nn.MLP([64, 128, 10], activation="relu", rng=123)
        cr.nn.load(fresh, path)
        assert accuracy(fresh, X_test, y_test) == result.test_accuracy
        print(f"saved and reloaded from .npz: test accuracy {accuracy(fresh, X_test, y_test):.2%}")
        try:
            plot_history(result.history, os.path.join(tmp, "curves.png"))
            print("loss and accuracy curves plotted (matplotlib, Agg backend)")
        except ImportError as e:
            print(e)

    # functional: the same gradient from the parameter dict, and per-example gradients by vmap
    params, xb, yb = fresh.params(), X_test[:8], y_test[:8]
    g = cr.grad(lambda p: F.cross_entropy(fresh.apply(p, xb), yb))(params)
    per_example = cr.vmap(cr.grad(lambda p, x, y: F.cross_entropy(fresh.apply(p, x), y)),
                          in_axes=(None, 0, 0))(params, xb, yb)
    worst = max(float(np.max(np.abs(per_example[k].mean(axis=0) - g[k]))) for k in g)
    print(f"per-example gradients of {len(xb)} test images (vmap); their mean differs from the "
          f"batch gradient by {worst:.1e}")
    assert worst < 1e-12
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
