"""``nondifferentiable`` and ``nondifferentiable_backward``: identities that refuse AD.

Both act on the array leaves of any pytree and return the rest untouched.
``nondifferentiable`` is a ``custom_jvp`` whose rule raises, so any tangent
(forward or reverse mode) is an error while JAX traces. ``nondifferentiable_backward``
is a ``custom_vjp`` whose backward rule raises unless the cotangent is a
symbolic zero: JAX's public API has no hook on transposition alone that also
batches (``custom_derivatives.linear_call`` has no ``vmap`` rule), so forward
mode is refused too, by JAX's own ``TypeError``; Equinox lets ``jvp`` through.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import jax
from jax.custom_derivatives import SymbolicZero

from ._filters import combine, is_array, partition

T = TypeVar("T")


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _no_tangent(msg: str, leaves: list) -> list:
    return leaves


@_no_tangent.defjvp
def _no_tangent_jvp(msg: str, primals: tuple, tangents: tuple) -> tuple:
    raise RuntimeError(msg)


def nondifferentiable(x: T, *, name: str | None = None, msg: str | None = None) -> T:
    """Return ``x``; differentiating through it (forward or reverse) raises ``RuntimeError``.

    Differs from ``jax.lax.stop_gradient``, which silently gives zero: use this
    where a derivative would be wrong rather than zero. Non-array leaves pass
    through. ``name`` fills the default message; ``msg`` replaces it. As
    Equinox's ``nondifferentiable``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> f = lambda x: ptc.nondifferentiable(x, name="rounding") ** 2
        >>> f(3.0)
        9.0
        >>> try:
        ...     jax.grad(f)(3.0)
        ... except RuntimeError as error:
        ...     print(error)
        Unexpected tangent. rounding cannot be autodifferentiated.
    """
    if msg is None:
        msg = f"Unexpected tangent. {name or 'This operation'} cannot be autodifferentiated."
    return _apply(x, functools.partial(_no_tangent, msg))


def _reverse_rule(msg: str) -> Any:
    @jax.custom_vjp
    def identity(leaves: list) -> list:
        return leaves

    def forward(leaves: Any) -> tuple:
        return [leaf.value for leaf in leaves], None

    def backward(_: None, cotangents: list) -> tuple:
        if not all(type(ct) is SymbolicZero for ct in cotangents):
            raise RuntimeError(msg)
        return (cotangents,)

    identity.defvjp(forward, backward, symbolic_zeros=True)
    return identity


@functools.lru_cache(maxsize=256)
def _reverse_identity(msg: str) -> Any:
    # One custom_vjp per message: JAX caches traces by the function object.
    return _reverse_rule(msg)


def nondifferentiable_backward(
    x: T, name: str | None = None, msg: str | None = None, symbolic: bool = True
) -> T:
    """Return ``x``; a nonzero cotangent flowing back through it raises ``RuntimeError``.

    Differs from ``jax.lax.stop_gradient`` (silent zeros) and from
    ``nondifferentiable`` (which refuses forward mode by its own message): an
    output whose cotangent is a symbolic zero (not used by the loss) is fine.
    As ``equinox.internal.nondifferentiable_backward``, except that ``jax.jvp``
    through it raises JAX's ``TypeError`` (see the module docstring);
    ``symbolic`` is accepted for Equinox's signature, and only ``True`` is offered.

    Example:
        >>> import jax
        >>> import pytreeclass as ptc
        >>> def f(x, y):
        ...     x = ptc.nondifferentiable_backward(x, name="the solver's state")
        ...     return y * 2.0
        >>> jax.grad(f)(1.0, 1.0)
        Array(0., dtype=float32, weak_type=True)
        >>> try:
        ...     jax.grad(lambda x: ptc.nondifferentiable_backward(x) * 2.0)(1.0)
        ... except RuntimeError as error:
        ...     print(error)
        Unexpected cotangent. This operation cannot be reverse-mode autodifferentiated.
    """
    if symbolic is not True:
        raise ValueError(
            "nondifferentiable_backward(symbolic=False) is not offered: only symbolic-zero "
            "cotangents are let through. Use error_if on the cotangent in a custom_vjp instead."
        )
    if msg is None:
        msg = (
            f"Unexpected cotangent. {name or 'This operation'} cannot be reverse-mode "
            f"autodifferentiated."
        )
    return _apply(x, _reverse_identity(msg))


def _apply(x: Any, identity: Any) -> Any:
    dynamic, static = partition(x, is_array)
    leaves, treedef = jax.tree_util.tree_flatten(dynamic)
    if not leaves:
        return x
    return combine(jax.tree_util.tree_unflatten(treedef, identity(leaves)), static)
