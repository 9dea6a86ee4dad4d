"""pytreeclass.testing: the strategies and round-trip checks offered to users."""

# jaxtyping's shape strings ("out inp", "*batch") are not forward references.
# ruff: noqa: F722, F821

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from typing import Literal, Optional

import beartype
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck
from jax.tree_util import GetAttrKey
from jaxtyping import Array, Bool, Float, Float32, Int, Key, Shaped, jaxtyped

import pytreeclass as ptc
from pytreeclass.testing import (
    ArraySizes,
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
    assert "pip install hypothesis" in out.stdout and "another project" in out.stdout


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
        x: "Undefined"

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
        x: "Undefined"
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


def test_assert_roundtrip_on_int_enum_leaves():
    """jax.jit takes IntEnum (and bool-/int-subclass) leaves; so must the check."""
    import enum

    class Color(enum.IntEnum):
        RED = 1

    @ptc.pytree_dataclass
    class Painted:
        color: Color
        weight: jax.Array

    assert_roundtrip(Painted(Color.RED, jnp.ones(2)))
    assert_roundtrip({"flag": enum.IntFlag("Flag", "A B").B})


# --- jaxtyping annotations (item 1 of issue 22) ----------------------------------------


@ptc.pytree_dataclass
class Affine:
    weight: Float[Array, "out inp"]
    bias: Float[Array, " out"]


@ptc.pytree_dataclass
class Annotated:
    table: Int[np.ndarray, "*batch 3"]
    mask: Bool[Array, "*#batch"]
    key: Key[Array, ""]
    n_vector: Float[Array, "n"]
    grown: Shaped[Array, "... n+1"]
    broadcast: Float32[Array, "_ #n"]
    rows: Float[Array, "rows=2"]
    inner: Affine


def _satisfies_jaxtyping(obj) -> bool:
    """jaxtyping's own check, with one memo for the whole instance (its dataclass rule)."""
    with jaxtyped("context"):
        return all(
            isinstance(getattr(obj, name), tp)
            for name, tp in type(obj).__annotations__.items()
            if name != "inner"
        )


def test_named_dims_agree_within_an_instance():
    @given(instances(Affine))
    def check(affine):
        assert affine.weight.ndim == 2 and affine.bias.ndim == 1
        assert affine.weight.shape[0] == affine.bias.shape[0]
        assert isinstance(affine.weight, jax.Array)
        assert jnp.issubdtype(affine.weight.dtype, jnp.floating)

    check()


def test_every_dim_kind_dtype_family_and_array_type_is_honoured():
    @settings(max_examples=30)  # every draw is checked whole: a dev-profile budget
    @given(instances(Annotated))
    def check(obj):
        assert _satisfies_jaxtyping(obj) and _satisfies_jaxtyping(obj.inner)
        assert isinstance(obj.table, np.ndarray) and obj.table.shape[-1] == 3
        assert obj.table.dtype.kind == "i" or "int" in str(obj.table.dtype)
        assert obj.mask.dtype == jnp.bool_
        assert jnp.issubdtype(obj.key.dtype, jax.dtypes.prng_key) and obj.key.shape == ()
        assert obj.grown.shape[-1] == obj.n_vector.shape[0] + 1
        assert obj.rows.shape == (2,)
        assert obj.broadcast.dtype == jnp.float32
        assert_roundtrip(obj)

    check()


def test_float_annotations_draw_bfloat16_and_float8():
    find(instances(Affine), lambda a: a.weight.dtype == jnp.bfloat16)
    find(instances(Affine), lambda a: "float8" in str(a.weight.dtype))


def test_a_nested_instance_is_its_own_scope_of_named_dims():
    @ptc.pytree_dataclass
    class Outer:
        weight: Float[Array, "out inp"]
        inner: Affine

    find(instances(Outer), lambda o: o.weight.shape[0] != o.inner.weight.shape[0])


def test_variadic_dims_are_shared_and_broadcastable():
    find(instances(Annotated), lambda o: o.table.ndim == 3 and o.mask.ndim == 2)
    find(instances(Annotated), lambda o: o.mask.shape != o.table.shape[:-1])


def test_array_sizes_bound_and_widen_the_shapes():
    @given(instances(Affine))
    def small(affine):
        assert max(affine.weight.shape) <= 3

    small()
    find(instances(Affine, ArraySizes(max_side=8)), lambda a: max(a.weight.shape) > 3)
    with pytest.raises(ValueError, match=r"ArraySizes: need 0 <= min_side <= max_side"):
        ArraySizes(min_side=4, max_side=2)
    with pytest.raises(TypeError, match=r"instances\(Affine, \.\.\.\).*must be an ArraySizes"):
        instances(Affine, 3)


def test_an_array_type_it_cannot_draw_names_the_field():
    @ptc.pytree_dataclass
    class Keys:
        key: Key[np.ndarray, ""]

    with pytest.raises(TypeError, match=r"Keys\.key: numpy arrays cannot hold typed PRNG keys"):
        instances(Keys)


def test_jaxtyping_is_optional_when_no_annotation_uses_it():
    code = (
        "import sys; sys.modules['jaxtyping'] = None\n"
        "import jax, pytreeclass as ptc\n"
        "from hypothesis import given, settings\n"
        "from pytreeclass.testing import instances, assert_roundtrip\n"
        "@ptc.pytree_dataclass\n"
        "class Layer:\n    weight: jax.Array\n    scale: float\n"
        # No deadline: a first call compiles (and this machine may be busy).
        "settings(deadline=None, max_examples=20)(given(instances(Layer))(assert_roundtrip))()\n"
        "assert sys.modules['jaxtyping'] is None\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == "ok\n", out.stderr


# --- classes that validate themselves (item 2) --------------------------------------


@ptc.pytree_dataclass
class Positive:
    scale: float

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")


@given(instances(Positive))
def test_draws_the_class_rejects_are_discarded(obj):
    assert obj.scale > 0


@jaxtyped(typechecker=beartype.beartype)
@ptc.pytree_dataclass
class CheckedAffine:
    weight: Float[Array, "out inp"]
    bias: Float[Array, " out"]


def test_draws_a_jaxtyping_check_rejects_are_discarded():
    biases = st.sampled_from([jnp.ones(1), jnp.ones(2), jnp.ones(3)])

    @given(instances(CheckedAffine, bias=biases))
    def check(obj):
        assert obj.weight.shape[0] == obj.bias.shape[0]

    check()


@beartype.beartype
@ptc.pytree_dataclass
class CheckedCount:
    count: int


@given(instances(CheckedCount, count=st.one_of(st.integers(), st.text())))
def test_draws_a_beartype_check_rejects_are_discarded(obj):
    assert isinstance(obj.count, int)


def test_nearly_all_draws_rejected_names_the_class_and_the_exception():
    @ptc.pytree_dataclass
    class Impossible:
        x: int

        def __post_init__(self):
            raise ValueError("never valid")

    @given(instances(Impossible))
    def check(obj):
        pass

    with pytest.raises(
        FailedHealthCheck, match=r"instances\(.*Impossible\): .*rejected .*ValueError: never valid"
    ):
        check()


# --- assert_roundtrip catches the classic hand-written pytree bug (item 3) ------------


@dataclasses.dataclass
class ValidatedAffine:
    """jax-ml/jax#25486: an unflatten that runs a validating __init__."""

    weight: jax.Array
    bias: jax.Array

    def __post_init__(self):
        if self.weight.shape[0] != self.bias.shape[0]:
            raise ValueError("weight and bias disagree on the output size")


jax.tree_util.register_pytree_with_keys(
    ValidatedAffine,
    lambda a: (((GetAttrKey("weight"), a.weight), (GetAttrKey("bias"), a.bias)), None),
    lambda _, children: ValidatedAffine(*children),
)


def test_a_validating_unflatten_fails_naming_the_check_the_path_and_the_cause():
    affine = ValidatedAffine(jnp.ones((2, 3)), jnp.ones(2))
    jax.tree_util.tree_map(lambda x: x * 2, affine)  # what works with this bug
    with pytest.raises(
        AssertionError,
        match=r"rebuild with None leaves.*at obj\.weight.*unflatten runs validation.*25486",
    ):
        assert_roundtrip(affine)


@dataclasses.dataclass
class Converting:
    x: jax.Array


def _unflatten_converting(_, children):
    # Python numbers become arrays: what a "normalising" unflatten does to a mask.
    (x,) = children
    return Converting(jnp.asarray(x) if isinstance(x, bool | int | float) else x)


jax.tree_util.register_pytree_with_keys(
    Converting, lambda c: (((GetAttrKey("x"), c.x),), None), _unflatten_converting
)


def test_an_unflatten_that_converts_placeholders_is_caught():
    with pytest.raises(AssertionError, match=r"rebuild with boolean leaves.*obj\.x came back as"):
        assert_roundtrip(Converting(jnp.ones(2)))


def test_placeholder_and_transform_checks_pass_correct_objects():
    assert_roundtrip({"a": [jnp.ones(2), None, "text"], "b": (1, 2.0)})
    assert_roundtrip(Affine(jnp.ones((2, 3), jnp.bfloat16), jnp.ones(2, jnp.bfloat16)))


# --- the module's public names (item 4) ------------------------------------------------


def test_the_testing_module_exposes_only_its_api():
    import pytreeclass.testing as testing

    api = ["ArraySizes", "assert_roundtrip", "assert_trees_equal", "instances"]
    api.append("register_strategies")
    # "@py_builtins" and kin: pytest's assertion rewriting, when it collected the module.
    assert [name for name in dir(testing) if not name.startswith(("__", "@"))] == api
    assert sorted(testing.__all__) == api
    for leaked in ("np", "jnp", "st", "cast", "Any", "jax", "typing", "dataclasses"):
        assert not hasattr(testing, leaked), leaked
    namespace: dict = {}
    exec("from pytreeclass.testing import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == api


def test_no_message_of_the_package_tells_users_to_install_pytreeclass_from_the_index():
    import pathlib
    import re

    package = pathlib.Path(ptc.__file__).parent
    wrong = re.compile(r"pip install ['\"]?pytreeclass\b")
    offenders = [
        f"{path.name}:{number}"
        for path in package.rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if wrong.search(line)
    ]
    assert offenders == []  # the index's "pytreeclass" is another project
