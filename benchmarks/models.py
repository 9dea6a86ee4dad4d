"""The same MLP written four ways: pytreeclass, register_dataclass, Equinox, flax.struct."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import flax.struct
import jax
import jax.numpy as jnp

import pytreeclass as ptc

WIDTH = 8


@ptc.pytree_dataclass
class PtcLinear:
    w: jax.Array
    b: jax.Array
    activation: Callable = ptc.field(static=True, default=jnp.tanh)


@ptc.pytree_dataclass
class PtcMLP:
    layers: tuple[PtcLinear, ...]

    def __call__(self, x):
        for layer in self.layers:
            x = layer.activation(layer.w @ x + layer.b)
        return x


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class JaxLinear:
    w: jax.Array
    b: jax.Array
    activation: Callable = dataclasses.field(default=jnp.tanh, metadata={"static": True})


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class JaxMLP:
    layers: tuple[JaxLinear, ...]

    def __call__(self, x):
        for layer in self.layers:
            x = layer.activation(layer.w @ x + layer.b)
        return x


class EqxLinear(eqx.Module):
    w: jax.Array
    b: jax.Array
    activation: Callable = eqx.field(static=True, default=jnp.tanh)


class EqxMLP(eqx.Module):
    layers: tuple[EqxLinear, ...]

    def __call__(self, x):
        for layer in self.layers:
            x = layer.activation(layer.w @ x + layer.b)
        return x


@flax.struct.dataclass
class FlaxLinear:
    w: jax.Array
    b: jax.Array
    activation: Callable = flax.struct.field(pytree_node=False, default=jnp.tanh)


@flax.struct.dataclass
class FlaxMLP:
    layers: tuple[FlaxLinear, ...]

    def __call__(self, x):
        for layer in self.layers:
            x = layer.activation(layer.w @ x + layer.b)
        return x


FLAVOURS = {
    "pytreeclass": (PtcMLP, PtcLinear),
    "register_dataclass": (JaxMLP, JaxLinear),
    "equinox": (EqxMLP, EqxLinear),
    "flax.struct": (FlaxMLP, FlaxLinear),
}


def mlp(flavour: str, n_layers: int):
    """An ``n_layers`` MLP of width ``WIDTH`` in the given flavour."""
    model_cls, layer_cls = FLAVOURS[flavour]
    layers = tuple(
        layer_cls(jnp.full((WIDTH, WIDTH), 0.1), jnp.zeros(WIDTH)) for _ in range(n_layers)
    )
    return model_cls(layers)


@ptc.pytree_dataclass
class PtcMixed:
    """A model with non-array leaves in data fields: only filtered jits accept it."""

    mlp: PtcMLP
    lr: float
    name: str
    act: Callable


class EqxMixed(eqx.Module):
    mlp: EqxMLP
    lr: float
    name: str
    act: Callable


def mixed(flavour: str, n_layers: int = 16):
    cls = PtcMixed if flavour == "pytreeclass" else EqxMixed
    return cls(mlp(flavour, n_layers), 0.1, "mixed", lambda x: x * 2)


# --- construction: three fields, one static; with and without converters -------------


@dataclasses.dataclass(frozen=True)
class PlainPoint:
    x: float
    y: float
    tag: str = "p"


@ptc.pytree_dataclass
class PtcPoint:
    x: float
    y: float
    tag: str = ptc.field(static=True, default="p")


class EqxPoint(eqx.Module):
    x: float
    y: float
    tag: str = eqx.field(static=True, default="p")


@dataclasses.dataclass(frozen=True)
class PlainConvertedPoint:
    """The hand-written equivalent of two converters."""

    x: float
    y: float
    tag: str = "p"

    def __post_init__(self):
        object.__setattr__(self, "x", float(self.x))
        object.__setattr__(self, "y", float(self.y))


@ptc.pytree_dataclass
class PtcConvertedPoint:
    x: float = ptc.field(converter=float)
    y: float = ptc.field(converter=float)
    tag: str = ptc.field(static=True, default="p")


class EqxConvertedPoint(eqx.Module):
    x: float = eqx.field(converter=float)
    y: float = eqx.field(converter=float)
    tag: str = eqx.field(static=True, default="p")


@dataclasses.dataclass(frozen=True, init=False)
class PlainAssignedPoint:
    """The hand-written ``__init__`` a frozen dataclass needs."""

    x: float
    y: float
    tag: str = "p"

    def __init__(self, x, y, tag="p"):
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "tag", tag)


@ptc.pytree_dataclass
class PtcAssignedPoint:
    """Equinox's style: ``self.x = ...`` in ``__init__`` of a frozen class."""

    x: float
    y: float
    tag: str = ptc.field(static=True)

    def __init__(self, x, y, tag="p"):
        self.x = x
        self.y = y
        self.tag = tag


@ptc.pytree_dataclass
class PtcSetattrPoint:
    """The same ``__init__`` written with ``object.__setattr__``."""

    x: float
    y: float
    tag: str = ptc.field(static=True)

    def __init__(self, x, y, tag="p"):
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "tag", tag)


class EqxAssignedPoint(eqx.Module):
    x: float
    y: float
    tag: str = eqx.field(static=True)

    def __init__(self, x, y, tag="p"):
        self.x = x
        self.y = y
        self.tag = tag


CONSTRUCTION = {
    "no converters": {
        "frozen dataclass": PlainPoint,
        "pytreeclass": PtcPoint,
        "equinox": EqxPoint,
    },
    "2 converters": {
        "frozen dataclass": PlainConvertedPoint,
        "pytreeclass": PtcConvertedPoint,
        "equinox": EqxConvertedPoint,
    },
}

# A hand-written three-field ``__init__``: what assigning ``self.x = ...`` costs.
ASSIGNMENT = {
    "frozen dataclass, object.__setattr__": PlainAssignedPoint,
    "pytreeclass, object.__setattr__": PtcSetattrPoint,
    "pytreeclass, self.x = ...": PtcAssignedPoint,
    "equinox, self.x = ...": EqxAssignedPoint,
}


def layers(n_layers: int) -> tuple[PtcLinear, ...]:
    """``n_layers`` two-array layers with a static activation: the dispatch-scaling
    argument (``2 * n_layers`` array leaves), one tree handed to every candidate."""
    return tuple(PtcLinear(jnp.ones(2), jnp.ones(2)) for _ in range(n_layers))
