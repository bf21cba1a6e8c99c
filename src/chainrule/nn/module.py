"""``Module``: a model whose parameters are tape leaves, usable functionally too.

A parameter is any ``cr.Tensor`` leaf with ``requires_grad=True`` held by a module,
as an attribute, or in a list, tuple or dict attribute; a submodule is any
``Module`` held the same way.  Nothing has to be registered: ``named_parameters``
walks the attributes in the order they were set, and names each parameter by its
dotted path (``layers.0.weight``), as PyTorch does.

Two faces, one ``forward``:

* tape: ``loss = F.mse_loss(model(x), y); loss.backward()`` fills each
  parameter's ``.grad``;
* functional: ``model.apply(params, x)`` runs the same ``forward`` with the
  parameters taken from ``params``, a dict ``{path: array}``, so ``cr.grad``,
  ``cr.vmap`` and ``cr.jvp`` apply to whole training steps.  Like
  ``torch.func.functional_call``, ``apply`` puts the given values in place of the
  parameters for the duration of the call and then puts the parameters back; a
  module is therefore not to be applied from two threads at once.
"""
from __future__ import annotations

import numpy as np

from chainrule._core.grad_mode import no_grad
from chainrule._interpreters.reverse import Tensor, _write

__all__ = ["Module", "parameter"]


def parameter(value, dtype=None):
    """A tape leaf that requires grad, made from a copy of ``value`` (float64 unless ``dtype``)."""
    if type(value) is Tensor:
        value = value.detach().numpy()
    value = np.asarray(value)
    if dtype is None:
        dtype = value.dtype if np.issubdtype(value.dtype, np.floating) else np.float64
    value = np.array(value, dtype=dtype, copy=True)
    return Tensor(value, requires_grad=True)


def _is_parameter(v):
    return type(v) is Tensor and v.requires_grad and v._prim is None and v._level == 0


class Module:
    """Base class of models: subclass it, set parameters and submodules as attributes, write ``forward``.

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> class Affine(cr.nn.Module):
    ...     def __init__(self):
    ...         self.w = cr.nn.parameter([2.0, -1.0])
    ...         self.b = cr.nn.parameter(0.5)
    ...     def forward(self, x):
    ...         return x @ self.w + self.b
    >>> m = Affine()
    >>> [name for name, _ in m.named_parameters()]
    ['w', 'b']
    >>> x = np.array([[1.0, 1.0], [2.0, 0.0]])
    >>> m(x)
    tensor([1.5, 4.5], grad_fn=<add>)
    >>> m.apply({"w": np.array([1.0, 1.0]), "b": 0.0}, x)
    array([2., 2.])
    """

    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined: a Module subclass "
                                  f"computes its output in forward(self, x)")

    # -- walking the module tree ----------------------------------------------------------
    def _slots(self):
        """``(path, container, key)`` for every place a parameter is held, in attribute order.

        A parameter held in two places appears twice, under the path where it was
        met first.  Iterative, over the module tree (not the computation graph).
        """
        slots, seen_params, seen_modules = [], {}, {id(self)}
        stack = [("", vars(self), list(vars(self)))]
        # depth-first, preserving attribute order: each frame is (prefix, container, keys left)
        while stack:
            prefix, container, keys = stack[-1]
            if not keys:
                stack.pop()
                continue
            key = keys.pop(0)
            value = container[key]
            path = f"{prefix}{key}"
            if _is_parameter(value):
                slots.append((seen_params.setdefault(id(value), path), container, key))
            elif isinstance(value, Module):
                if id(value) not in seen_modules:
                    seen_modules.add(id(value))
                    stack.append((path + ".", vars(value), list(vars(value))))
            elif type(value) in (list, tuple):
                stack.append((path + ".", value, list(range(len(value)))))
            elif type(value) is dict:
                stack.append((path + ".", value, [k for k in value if isinstance(k, str)]))
        return slots

    def named_parameters(self):
        """``(dotted_path, Tensor)`` for each parameter (each once), in attribute order."""
        seen = set()
        for path, container, key in self._slots():
            if path not in seen:
                seen.add(path)
                yield path, container[key]

    def parameters(self):
        """The parameters (tape leaves with ``requires_grad=True``), each once."""
        return [t for _, t in self.named_parameters()]

    def modules(self):
        """This module and every submodule, each once, depth first."""
        out, stack, seen = [], [self], set()
        while stack:
            m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            out.append(m)
            children = []
            todo = list(vars(m).values())
            while todo:
                v = todo.pop(0)
                if isinstance(v, Module):
                    children.append(v)
                elif type(v) in (list, tuple):
                    todo[:0] = list(v)
                elif type(v) is dict:
                    todo[:0] = list(v.values())
            stack.extend(reversed(children))
        return out

    # -- training state -----------------------------------------------------------------
    def zero_grad(self):
        """Set every parameter's ``.grad`` to ``None`` (gradients accumulate until then)."""
        for t in self.parameters():
            t.grad = None

    def train(self, mode=True):
        """Set training mode (``self.training``) here and in every submodule; returns ``self``."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self):
        """``train(False)``."""
        return self.train(False)

    # -- state ----------------------------------------------------------------------------
    def params(self):
        """The parameter values as a dict ``{path: array}`` (copies): a pytree for ``apply``."""
        return {path: np.array(t._value, copy=True) for path, t in self.named_parameters()}

    def state_dict(self):
        """``{path: array}``, copies of the parameter values (what ``save`` writes)."""
        return self.params()

    def load_state_dict(self, state, strict=True):
        """Copy the values of ``state`` (``{path: array}``) into the parameters.

        Every key and shape is checked before anything is written, so on an error
        the model is unchanged.  ``strict=False`` allows missing and unexpected keys
        (the shapes of the keys present are still checked).
        """
        own = dict(self.named_parameters())
        name = type(self).__name__
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            raise KeyError(f"load_state_dict({name}): {' and '.join(parts)}; the model has parameters "
                           f"{list(own)} (pass strict=False to load only the keys present in both)")
        values = {}
        for k, t in own.items():
            if k not in state:
                continue
            v = state[k]
            v = v.detach().numpy() if type(v) is Tensor else np.asarray(v)
            if v.shape != t.shape:
                raise ValueError(f"load_state_dict({name}): parameter {k!r} has shape {t.shape} in the "
                                 f"model but {v.shape} in the state; nothing was loaded (was the state "
                                 f"saved from a model of other sizes?)")
            if not (np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)):
                raise TypeError(f"load_state_dict({name}): parameter {k!r} has dtype {v.dtype} in the "
                                f"state; a float array is needed; nothing was loaded")
            values[k] = v
        with no_grad():
            for k, v in values.items():
                _write(own[k], v.astype(own[k].dtype, copy=False), "load_state_dict")
        return self

    # -- functional use -----------------------------------------------------------------------
    def apply(self, params, *args, **kwargs):
        """``forward(*args)`` with the parameters taken from ``params``, a dict ``{path: array}``.

        ``params`` must hold exactly the paths of ``named_parameters()``, with their
        shapes; its values may be arrays, or the tracers of ``cr.grad``,
        ``cr.vmap`` and the other transforms, so that

            cr.grad(lambda p: F.mse_loss(model.apply(p, x), y))(model.params())

        gives the gradient as a dict by path.  The module's own parameters are
        untouched.
        """
        slots = self._slots()
        if type(params) is not dict:
            raise TypeError(f"{type(self).__name__}.apply: params must be a dict {{path: array}} "
                            f"(e.g. model.params()), got {type(params).__name__}")
        if len(params) != len({p for p, _, _ in slots}) or any(p not in params for p, _, _ in slots):
            self._key_error(params, slots)
        saved = []
        try:
            for path, container, key in slots:
                old = container[key]
                new = params[path]
                if (new.shape if hasattr(new, "shape") else np.shape(new)) != old.shape:
                    raise ValueError(f"{type(self).__name__}.apply: params[{path!r}] has shape "
                                     f"{np.shape(new) if not hasattr(new, 'shape') else new.shape}, "
                                     f"but the parameter has shape {old.shape}")
                if type(container) is tuple:
                    raise TypeError(f"{type(self).__name__}.apply: parameter {path!r} is held in a "
                                    f"tuple, which cannot be swapped; hold it in a list")
                container[key] = new
                saved.append((container, key, old))
            return self(*args, **kwargs)
        finally:
            for container, key, old in reversed(saved):
                container[key] = old

    def _key_error(self, params, slots):
        paths = list(dict.fromkeys(p for p, _, _ in slots))
        missing = [p for p in paths if p not in params]
        unexpected = [k for k in params if k not in paths]
        raise KeyError(f"{type(self).__name__}.apply: params must have exactly the keys {paths}; "
                       f"missing {missing}, unexpected {unexpected}")

    def __repr__(self):
        n = sum(int(np.prod(t.shape, dtype=np.int64)) for t in self.parameters())
        return f"{type(self).__name__}({n} parameters)"
