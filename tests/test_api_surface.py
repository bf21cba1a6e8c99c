"""The NumPy namespace promised by API.md §4 exists: every name listed there, in
``chainrule.numpy``, ``cnp.linalg`` and ``cnp.special``.  (Its derivatives are tested
per family in tests/test_ops*.py; ``test_every_public_function_is_in_the_table`` makes
sure each exported name has such a test.)"""
from __future__ import annotations

import pytest

import chainrule as cr
import chainrule.numpy as cnp

# Copied from API.md §4 (the public contract).
API_NUMPY = """
add subtract multiply divide true_divide negative power square sqrt cbrt reciprocal abs sign
maximum minimum clip where
exp exp2 expm1 log log2 log10 log1p logaddexp logaddexp2
sin cos tan arcsin arccos arctan arctan2 hypot sinh cosh tanh arcsinh arccosh arctanh
floor ceil round trunc
sum mean prod max min amax amin var std cumsum cumprod
dot matmul tensordot einsum outer inner trace diag diagonal
reshape ravel transpose swapaxes moveaxis expand_dims squeeze broadcast_to concatenate stack
hstack vstack split tile repeat flip roll pad triu tril take take_along_axis sort
array asarray zeros ones zeros_like ones_like full eye arange linspace at
""".split()
API_LINALG = "inv solve det slogdet cholesky norm eigh".split()
API_SPECIAL = "erf logsumexp expit logit softplus gammaln".split()
API_TOP = ("grad value_and_grad vjp jvp jet laplacian divergence hessian_diag derivatives stop_gradient Tensor tensor no_grad autograd "
           "testing forward_ad detect_anomaly").split()
API_FORWARD_AD = "dual_level make_dual unpack_dual".split()  # §10


@pytest.mark.parametrize("namespace,names", [
    (cnp, API_NUMPY), (cnp.linalg, API_LINALG), (cnp.special, API_SPECIAL), (cr, API_TOP),
    (cr.forward_ad, API_FORWARD_AD)],
    ids=["chainrule.numpy", "cnp.linalg", "cnp.special", "chainrule", "cr.forward_ad"])
def test_every_name_of_the_contract_exists(namespace, names):
    missing = [n for n in names if not hasattr(namespace, n)]
    assert not missing, f"{namespace.__name__} lacks {missing} (API.md)"
    assert set(names) - {"autograd", "testing"} <= set(getattr(namespace, "__all__", names))
