"""pytreeclass.testing: the strategies and round-trip checks offered to users."""

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from typing import Literal, Optional

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import pytreeclass as ptc
from pytreeclass.testing import (
    assert_roundtrip,
    assert_trees_equal,
    instances,
    register_strategies,
)


@ptc.pytree_dataclass
class Leafy:
    weight: jax.Array
    table: np.ndarray
    count: int
    rate: float
    flag: bool
    name: str
    maybe: Optional[jax.Array]  # noqa: UP045 - the typing spelling must work too
    pair: tuple[int, str]
    many: tuple[float, ...]
    items: list[int]
    mapping: dict[str, float]
    mode: Literal["a", "b"]
    activation: Callable = ptc.field(static=True)
    tag: str = ptc.field(static=True, default="t")
    shape: tuple[int, ...] = ptc.field(static=True, default=())


@ptc.pytree_dataclass
class Nested:
    inner: Leafy
    others: tuple["Nested", ...]
    optional: Leafy | None = None


@given(instances(Leafy))
def test_instances_follow_the_annotations(obj):
    assert isinstance(obj.weight, jax.Array)
    assert isinstance(obj.table, np.ndarray)
    assert obj.table.dtype in (np.float32, np.int32, np.bool_, np.float16)
    assert obj.table.ndim <= 2
    assert type(obj.count) is int
    assert type(obj.rate) is float
    assert type(obj.flag) is bool
    assert obj.maybe is None or isinstance(obj.maybe, jax.Array)
    assert isinstance(obj.pair[0], int)
    assert isinstance(obj.pair[1], str)
    assert all(isinstance(v, float) for v in obj.many)
    assert isinstance(obj.items, list)
    assert all(isinstance(k, str) for k in obj.mapping)
    assert obj.mode in ("a", "b")
    assert callable(obj.activation)
    hash((obj.activation, obj.tag, obj.shape))


@given(instances(Nested))
def test_nested_instances_roundtrip(obj):
    assert_roundtrip(obj)


@given(instances(Leafy, count=st.just(7), tag=st.sampled_from(["x", "y"])))
def test_overrides_replace_inferred_strategies(obj):
    assert obj.count == 7
    assert obj.tag in ("x", "y")


def test_uninferable_field_asks_for_an_override():
    @ptc.pytree_dataclass
    class Opaque:
        thing: object

    with pytest.raises(TypeError, match=r"Opaque\.thing.*Pass a strategy for it.*thing=st.just"):
        instances(Opaque)


def test_uninferable_field_with_default_uses_the_default():
    @ptc.pytree_dataclass
    class WithDefault:
        x: jax.Array
        thing: object = None

    @given(instances(WithDefault))
    def check(obj):
        assert obj.thing is None

    check()


def test_static_array_field_is_refused():
    @ptc.pytree_dataclass
    class StaticArray:
        x: jax.Array = ptc.field(static=True)

    with pytest.raises(TypeError, match=r"StaticArray\.x: a static field cannot hold"):
        instances(StaticArray)


def test_unknown_override_is_an_error():
    with pytest.raises(TypeError, match=r"no field\(s\) \['nope'\]"):
        instances(Leafy, nope=st.just(1))


def test_instances_needs_a_pytree_dataclass():
    with pytest.raises(TypeError, match="expects a pytree dataclass"):
        instances(int)


def test_register_strategies_enables_from_type():
    register_strategies(Leafy)

    @given(st.from_type(Leafy))
    def check(obj):
        assert isinstance(obj, Leafy)

    check()


# --- assert_roundtrip -------------------------------------------------------------


@dataclasses.dataclass
class Broken:
    x: jax.Array
    y: jax.Array


# A deliberately wrong registration: unflatten swaps the two children.
jax.tree_util.register_pytree_node(
    Broken, lambda b: ((b.x, b.y), None), lambda _, children: Broken(children[1], children[0])
)


def test_assert_roundtrip_fails_on_a_broken_registration_naming_the_field():
    with pytest.raises(
        AssertionError, match=r"unflatten\(flatten\(obj\)\)\.x: shape \(1,\) != \(2,\)"
    ):
        assert_roundtrip(Broken(jnp.ones(1), jnp.ones(2)))


def test_assert_trees_equal_reports_dtype_and_value_paths():
    with pytest.raises(AssertionError, match=r"obj\['a'\]\[1\]: dtype"):
        assert_trees_equal({"a": [1, jnp.ones(2)]}, {"a": [1, jnp.ones(2, jnp.int32)]})
    with pytest.raises(AssertionError, match=r"obj\.x: values differ"):
        assert_trees_equal(Broken(jnp.ones(1), jnp.ones(1)), Broken(jnp.zeros(1), jnp.ones(1)))
    with pytest.raises(AssertionError, match=r"obj\[0\]: 1 != 1.0"):
        assert_trees_equal((1,), (1.0,))


def test_nan_arrays_compare_equal():
    assert_trees_equal(jnp.array([jnp.nan]), jnp.array([jnp.nan]))


def test_hypothesis_is_optional_and_never_imported_by_pytreeclass():
    code = (
        "import sys, pytreeclass;"
        "bad = [m for m in ('hypothesis', 'flax', 'equinox', 'optax') if m in sys.modules];"
        "assert not bad, bad;"
        "sys.modules['hypothesis'] = None\n"
        "try:\n    import pytreeclass.testing\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'pytreeclass[testing]'" in out.stdout


def test_register_strategies_without_arguments_covers_user_classes_only():
    from pytreeclass._interop import decorated_classes

    classes = decorated_classes()
    assert Leafy in classes
    assert all(not c.__module__.startswith("pytreeclass.") for c in classes)
    register_strategies()


def test_custom_init_that_does_not_take_fields_is_a_clear_error():
    @ptc.pytree_dataclass
    class Sized:
        w: jax.Array

        def __init__(self, size: int):
            object.__setattr__(self, "w", jnp.ones(size))

    with pytest.raises(TypeError, match=r"instances\(.*Sized\): its __init__ does not take"):
        instances(Sized)


def test_unresolvable_annotation_is_a_clear_error():
    @ptc.pytree_dataclass
    class Forward:
        x: "Undefined"  # noqa: F821 - the point of the test

    with pytest.raises(
        TypeError, match=r"cannot resolve the annotation 'Undefined' of field 'x'.*x=st"
    ):
        instances(Forward)


# --- never cries wolf ---------------------------------------------------------------------


@ptc.pytree_dataclass
class Numbers:
    ratio: float
    count: int
    key: jax.Array
    tag: float = ptc.field(static=True, default=float("nan"))


@pytest.mark.parametrize(
    "obj",
    [
        Numbers(0.1, 1, jax.random.key(0)),  # not a float32: jax.jit gives 0.10000000149
        Numbers(float("nan"), 1, jax.random.key(0)),
        Numbers(1.0, 2**70, jax.random.key(0)),  # jax.jit cannot take it: that check is left out
        Numbers(complex(float("nan"), 1), -(2**40), jax.random.split(jax.random.key(0), 3)),
    ],
    ids=["0.1", "nan", "big int", "complex nan and keys"],
)
def test_assert_roundtrip_accepts_correct_objects(obj):
    assert_roundtrip(obj)


def test_assert_roundtrip_says_which_check_failed_and_where():
    @ptc.pytree_dataclass
    class Lossy:
        x: jax.Array

    broken = ptc.filter_jit(lambda o: ptc.tree_at(lambda m: m.x, o, o.x + 1))
    with pytest.raises(AssertionError, match=r"^obj\.x: values differ"):
        assert_trees_equal(Lossy(jnp.ones(2)), broken(Lossy(jnp.ones(2))), "obj")


@ptc.pytree_dataclass
class WithInitVar:
    x: tuple = ptc.field(init=False)
    scale: dataclasses.InitVar[int]

    def __post_init__(self, scale):
        object.__setattr__(self, "x", (scale, 2 * scale))


@given(instances(WithInitVar))
def test_instances_fill_init_vars_without_defaults(obj):
    assert obj.x[1] == 2 * obj.x[0]
    assert_roundtrip(obj)


@given(instances(WithInitVar, scale=st.just(3)))
def test_instances_take_an_override_for_an_init_var(obj):
    assert obj.x == (3, 6)


def test_following_the_errors_advice_works():
    @ptc.pytree_dataclass
    class Forward:
        x: "Undefined"  # noqa: F821 - the point of the test
        y: int = 0

    with pytest.raises(TypeError, match=r"x=st\.just"):
        instances(Forward)

    @given(instances(Forward, x=st.just("given")))
    def check(obj):
        assert obj.x == "given"

    check()


def test_assert_roundtrip_twice_on_a_float_just_beyond_float32():
    # A fuzzer finding: JAX caches scalar conversions, so the overflow showed once only.
    obj = Numbers(3.4028235677973366e38, 1, jax.random.key(0))
    assert_roundtrip(obj)
    assert_roundtrip(obj)
