"""``filter_custom_jvp`` and ``filter_custom_vjp``: custom derivatives of functions of
whole models, with Equinox's semantics (symbolic zeros as ``None``).

Arguments may hold any leaves: non-array ones are static; with
``filter_custom_vjp``, only the inexact arrays of the first argument are
differentiated, and arrays anywhere else must not be (a clear error says so).
Residuals may hold non-array leaves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._ad import _is_none
from ._filters import combine, is_array, is_inexact_array, partition
from ._nondifferentiable import nondifferentiable
from ._static import Static, split_static
from ._wrapper import BindsLikeAFunction

_custom = jax.custom_derivatives


def _materialise_symbolic_zero(x: Any, grad: Any) -> Any:
    return jnp.zeros_like(x) if grad is None and is_inexact_array(x) else grad


def _drop_nondiff(tangent: Any, primal: Any) -> Any:
    if isinstance(tangent, _custom.SymbolicZero):
        return None
    return tangent if jnp.issubdtype(jnp.result_type(primal), jnp.inexact) else None


def _none_to_zero(ct: Any, x: Any) -> Any:
    if ct is not None or x is None:
        return ct
    aval = jax.typeof(x)
    return _custom.SymbolicZero(aval.to_tangent_aval())


def _zero_to_none(ct: Any) -> Any:
    return None if isinstance(ct, _custom.SymbolicZero) else ct


class filter_custom_jvp(BindsLikeAFunction):  # noqa: N801 - Equinox's name
    """``jax.custom_jvp`` for functions of whole models (Equinox's ``filter_custom_jvp``).

    Differs from ``jax.custom_jvp``: arguments and outputs may hold any leaves
    (non-arrays are static, no ``nondiff_argnums``; Equinox's outputs must be
    arrays). The rule given to ``def_jvp`` is called
    as ``fn_jvp(primals, tangents, **kwargs)`` with ``tangents`` ``None`` for
    every leaf that is not perturbed (a symbolic zero) and returns ``(out,
    tangent_out)``, ``None`` allowed. ``defjvp`` is the same with zeros
    materialised for inexact arrays.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.filter_custom_jvp
        ... def double(x, tag):
        ...     return 2 * x
        >>> @double.def_jvp
        ... def double_jvp(primals, tangents):
        ...     (x, tag), (tx, _) = primals, tangents
        ...     return 2 * x, 10 * tx
        >>> jax.grad(lambda x: double(x, "t"))(1.0)
        Array(10., dtype=float32, weak_type=True)
    """

    def __init__(self, fn: Callable[..., Any]):
        def fn_wrapper(static: Static, dynamic: Any) -> Any:
            dynamic = jax.tree_util.tree_map(_typed_scalar_as_array, dynamic)
            args, kwargs = combine(dynamic, static.value)
            return split_static(fn(*args, **kwargs))

        self.fn = fn
        self.wrapped = jax.custom_jvp(fn_wrapper, nondiff_argnums=(0,))
        functools.update_wrapper(self, fn, updated=())

    def def_jvp(self, fn_jvp: Callable[..., Any]) -> Callable[..., Any]:
        def jvp_wrapper(static: Static, primals: tuple, tangents: tuple) -> Any:
            (dynamic,), (tangent,) = primals, tangents
            dynamic = jax.tree_util.tree_map(_typed_scalar_as_array, dynamic)
            t_args, t_kwargs = jax.tree_util.tree_map(_drop_nondiff, tangent, dynamic)
            if jax.tree_util.tree_leaves(t_kwargs):
                raise ValueError(
                    f"filter_custom_jvp({_name(self.fn)}): keyword arguments cannot be "
                    f"differentiated; pass the perturbed values positionally."
                )
            args, kwargs = combine(dynamic, static.value)
            out, t_out = fn_jvp(args, t_args, **kwargs)
            out_arrays, out_static = split_static(out)
            t_arrays = jax.tree_util.tree_map(
                lambda t, o: t if is_array(o) else None, t_out, out, is_leaf=_is_none
            )
            t_arrays = jax.tree_util.tree_map(_none_to_zero, t_arrays, out_arrays, is_leaf=_is_none)
            return (out_arrays, out_static), (t_arrays, out_static)

        self.wrapped.defjvp(jvp_wrapper, symbolic_zeros=True)
        return fn_jvp

    def defjvp(self, fn_jvp: Callable[..., Any]) -> Callable[..., Any]:
        def materialised(args: Any, t_args: Any, **kwargs: Any) -> Any:
            t_args = jax.tree_util.tree_map(_materialise_symbolic_zero, args, t_args)
            return fn_jvp(args, t_args, **kwargs)

        self.def_jvp(materialised)
        return fn_jvp

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dynamic, static = partition((args, kwargs), is_array)
        out, out_static = self.wrapped(Static(static), dynamic)
        return combine(out, out_static.value)


_PERTURBED_OTHERS = (
    "filter_custom_vjp: only the first argument is differentiated; an array in "
    "the other arguments was perturbed. Move it into the first argument, or "
    "stop its gradient with jax.lax.stop_gradient."
)


class filter_custom_vjp(BindsLikeAFunction):  # noqa: N801 - Equinox's name
    """``jax.custom_vjp`` for functions of whole models (Equinox's ``filter_custom_vjp``).

    Differs from ``jax.custom_vjp``: the function is ``fn(vjp_arg, *args,
    **kwargs)``; only the inexact arrays of ``vjp_arg`` are differentiated, the
    rest may hold any leaves. ``def_fwd(fn_fwd)`` takes ``fn_fwd(perturbed,
    vjp_arg, *args, **kwargs) -> (out, residuals)`` (residuals may hold any
    leaves; ``perturbed`` is a tree of bools); ``def_bwd(fn_bwd)`` takes
    ``fn_bwd(residuals, grad_out, perturbed, vjp_arg, *args, **kwargs)`` and
    returns the gradient for ``filter(vjp_arg, is_inexact_array)``, ``None``
    for symbolic zeros. ``defvjp(fwd, bwd)`` is the older form without
    ``perturbed`` and with zeros materialised.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.filter_custom_vjp
        ... def scale(params, x):
        ...     return params["w"] * x
        >>> scale.defvjp(lambda p, x: (scale(p, x), x),
        ...              lambda x, g, p, _: {"w": jnp.sum(g * x) * 10, "name": None})
        >>> jax.grad(lambda w: scale({"w": w, "name": "n"}, jnp.ones(2)).sum())(1.0)
        Array(20., dtype=float32)
    """

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        functools.update_wrapper(self, fn, updated=())
        self.fn_fwd: Callable[..., Any] | None = None
        self.fn_bwd: Callable[..., Any] | None = None
        self.wrapped: Any = None

    def def_fwd(self, fn_fwd: Callable[..., Any]) -> Callable[..., Any]:
        self.fn_fwd = fn_fwd
        self._define()
        return fn_fwd

    def def_bwd(self, fn_bwd: Callable[..., Any]) -> Callable[..., Any]:
        self.fn_bwd = fn_bwd
        self._define()
        return fn_bwd

    def defvjp(self, fn_fwd: Callable[..., Any], fn_bwd: Callable[..., Any]) -> None:
        def fwd(perturbed: Any, vjp_arg: Any, *args: Any, **kwargs: Any) -> Any:
            out, residuals = fn_fwd(vjp_arg, *args, **kwargs)
            return out, (out, residuals)

        def bwd(saved: Any, grad_out: Any, perturbed: Any, vjp_arg: Any, *a: Any, **k: Any) -> Any:
            out, residuals = saved
            grad_out = jax.tree_util.tree_map(_materialise_symbolic_zero, out, grad_out)
            return fn_bwd(residuals, grad_out, vjp_arg, *a, **k)

        self.fn_fwd, self.fn_bwd = fwd, bwd
        self._define()

    def _define(self) -> None:
        if self.fn_fwd is None or self.fn_bwd is None:
            return
        fn, fn_fwd, fn_bwd = self.fn, self.fn_fwd, self.fn_bwd

        # Arguments: the non-array leaves of (vjp_arg, args, kwargs), static; the
        # inexact arrays of vjp_arg, differentiated; its other arrays; the arrays
        # of args and kwargs, which must not be perturbed.
        def primal(static: Static, diff: Any, nondiff: Any, others: Any) -> Any:
            diff, nondiff, others = jax.tree_util.tree_map(
                _typed_scalar_as_array, (diff, nondiff, others)
            )
            nonarray_vjp_arg, nonarray_rest = static.value
            vjp_arg = combine(diff, nondiff, nonarray_vjp_arg)
            args, kwargs = combine(others, nonarray_rest)
            return _split_outputs(fn(vjp_arg, *args, **kwargs))

        def fwd(static: Static, diff: Any, nondiff: Any, others: Any) -> Any:
            nonarray_vjp_arg, nonarray_rest = static.value
            perturbed = combine(
                jax.tree_util.tree_map(lambda p: p.perturbed, diff),
                jax.tree_util.tree_map(lambda _: False, nondiff),
                jax.tree_util.tree_map(lambda _: False, nonarray_vjp_arg),
            )
            diff, nondiff, others = jax.tree_util.tree_map(
                lambda p: _typed_scalar_as_array(p.value), (diff, nondiff, others)
            )
            vjp_arg = combine(diff, nondiff, nonarray_vjp_arg)
            args, kwargs = combine(others, nonarray_rest)
            out, residuals = fn_fwd(perturbed, vjp_arg, *args, **kwargs)
            array_residuals, other_residuals = partition(residuals, is_array)
            saved = (
                array_residuals,
                Static((other_residuals, perturbed)),
                diff,
                nondiff,
                others,
            )
            return _split_outputs(out), saved

        def bwd(static: Static, saved: Any, grad_out: Any) -> Any:
            array_residuals, box, diff, nondiff, others = saved
            other_residuals, perturbed = box.value
            nonarray_vjp_arg, nonarray_rest = static.value
            vjp_arg = combine(diff, nondiff, nonarray_vjp_arg)
            args, kwargs = combine(others, nonarray_rest)
            grad_diff_out = jax.tree_util.tree_map(_zero_to_none, grad_out[0])
            residuals = combine(array_residuals, other_residuals)
            grads = fn_bwd(residuals, grad_diff_out, perturbed, vjp_arg, *args, **kwargs)
            expected = jax.tree_util.tree_structure(diff, is_leaf=_is_none)
            if jax.tree_util.tree_structure(grads, is_leaf=_is_none) != expected:  # type: ignore[operator]
                raise RuntimeError(
                    f"filter_custom_vjp({_name(fn)}): the backward rule must return a "
                    f"tree shaped like filter(vjp_arg, is_inexact_array), with None for "
                    f"the leaves that get no gradient."
                )
            grads = jax.tree_util.tree_map(_none_to_zero, grads, diff, is_leaf=_is_none)
            return grads, None, None

        wrapped = jax.custom_vjp(primal, nondiff_argnums=(0,))
        wrapped.defvjp(fwd, bwd, symbolic_zeros=True)
        self.wrapped = wrapped

    def __call__(self, vjp_arg: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self.wrapped is None:
            raise RuntimeError(
                f"filter_custom_vjp({_name(self.fn)}): define the rule first, with "
                f"def_fwd and def_bwd (or defvjp)."
            )
        arrays, nonarray_vjp_arg = partition(vjp_arg, is_array)
        diff, nondiff = partition(arrays, is_inexact_array)
        others, nonarray_rest = partition((args, kwargs), is_array)
        static = Static((nonarray_vjp_arg, nonarray_rest))
        out = self.wrapped(static, diff, nondiff, nondifferentiable(others, msg=_PERTURBED_OTHERS))
        return combine(*out[:2], out[2].value)


def _split_outputs(out: Any) -> tuple[Any, Any, Static]:
    arrays, static = split_static(out)
    diff, nondiff = partition(arrays, is_inexact_array)
    return diff, nondiff, static


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", type(fn).__qualname__)


def _typed_scalar_as_array(x: Any) -> Any:
    """JAX hands a Python-number primal over as a typed scalar (a float with a
    dtype); as an array, the rule's outputs stay arrays too."""
    return jnp.asarray(x) if isinstance(x, int | float | complex) else x
