"""The seeds' layered example (issue 4, item 7): J_theta f of a layered tanh network
from jacfwd, from jacrev and from the explicit reverse recursion
(D = I; for k = l..1: J_theta^k f = D . J_theta^k L^k, D = D . J_x L^k) all agree,
and match central finite differences."""
import importlib.util
import pathlib

import numpy as np
import pytest

PATH = pathlib.Path(__file__).resolve().parent.parent / "examples" / "layered_jacobian.py"


def _load():
    spec = importlib.util.spec_from_file_location("layered_jacobian_example", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = _load()


@pytest.mark.parametrize("seed", [0, 1])
def test_three_methods_agree_and_match_fd(seed):
    J = ex.all_jacobians(seed)
    n_out, n_par = ex.SIZES[-1], sum(ex.layer_param_sizes())
    for name, Jm in J.items():
        assert Jm.shape == (n_out, n_par), name
        assert Jm.dtype == np.float64, name
    np.testing.assert_allclose(J["jacfwd"], J["jacrev"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(J["recursion"], J["jacrev"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(J["recursion"], J["jacfwd"], rtol=0, atol=1e-12)
    for name in ("jacfwd", "jacrev", "recursion"):
        np.testing.assert_allclose(J[name], J["finite differences"], rtol=0, atol=1e-6,
                                   err_msg=name)
    assert np.abs(J["jacrev"]).max() > 1e-3        # not trivially zero


@pytest.mark.parametrize("seed", [0, 1])
def test_recursion_on_other_depth(seed):
    """The recursion is generic in the number and widths of layers (here l = 4)."""
    sizes = (2, 5, 4, 3, 3)
    x, thetas = ex.init_params(seed, sizes)
    theta = np.concatenate(thetas)
    rec = ex.jac_theta_recursion(x, theta, sizes)
    rev = ex.jac_theta_rev(x, theta, sizes)
    fwd = ex.jac_theta_fwd(x, theta, sizes)
    fd = ex.jac_theta_fd(x, theta, sizes)
    assert rec.shape == (3, theta.size)
    np.testing.assert_allclose(rec, rev, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fwd, rev, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rec, fd, rtol=0, atol=1e-6)
