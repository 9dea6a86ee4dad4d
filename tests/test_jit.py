"""filter_jit: what is traced, what is static, when it retraces (counted, not timed)."""

import functools
import warnings
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

import pytreeclass as ptc


@ptc.pytree_dataclass
class Model:
    weight: jax.Array
    name: str
    activation: Callable
    step: int
    scale: float = ptc.field(static=True, default=1.0)

    def __call__(self, x):
        return self.activation(self.weight * x) * self.scale


def make_model(**changes):
    fields = {"weight": jnp.ones(3), "name": "m", "activation": jnp.tanh, "step": 0}
    return Model(**{**fields, **changes})


def counting(fun):
    """``fun`` plus a list that grows by one each time it is traced."""
    traces = []

    @functools.wraps(fun)
    def counted(*args, **kwargs):
        traces.append(1)
        return fun(*args, **kwargs)

    return counted, traces


def test_arrays_are_traced_and_other_leaves_are_static():
    seen = {}

    @ptc.filter_jit
    def f(model, x):
        seen.update(weight=type(model.weight), name=model.name, step=model.step, x=type(x))
        return model(x)

    out = f(make_model(), jnp.ones(3))
    np.testing.assert_allclose(out, np.tanh(1.0) * np.ones(3), rtol=1e-6)
    assert issubclass(seen["weight"], jax.core.Tracer)
    assert issubclass(seen["x"], jax.core.Tracer)
    assert seen["name"] == "m"
    assert seen["step"] == 0


def test_numpy_arrays_and_scalars_are_traced():
    seen = []
    f = ptc.filter_jit(lambda a, b: seen.append((type(a), type(b))) or a + b)
    f(np.ones(2, np.float32), np.float32(2.0))
    assert all(issubclass(t, jax.core.Tracer) for t in seen[0])


def test_cached_call_does_not_retrace():
    fun, traces = counting(lambda model, x: model(x))
    f = ptc.filter_jit(fun)
    for _ in range(3):
        f(make_model(), jnp.ones(3))
    assert len(traces) == 1
    assert f.trace_count() == 1


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ({"step": 1}, "model.step: 0 -> 1"),
        ({"name": "other"}, "model.name: 'm' -> 'other'"),
        ({"weight": jnp.ones(4)}, "model.weight: f32[3] -> f32[4]"),
        ({"weight": jnp.ones(3, jnp.int32)}, "model.weight: f32[3] -> i32[3]"),
        ({"scale": 2.0}, "model.scale: 1.0 -> 2.0"),
    ],
)
def test_retrace_on_static_shape_dtype_change_is_explained_by_key_path(changed, expected):
    fun, traces = counting(lambda model: model.weight)
    f = ptc.filter_jit(fun)
    f(make_model())
    f(make_model(**changed))
    assert len(traces) == 2
    assert expected in f.explain_retrace()


def test_explain_retrace_is_none_before_any_retrace():
    f = ptc.filter_jit(lambda x: x)
    f(jnp.ones(1))
    assert f.explain_retrace() is None


def test_retrace_on_structure_change_names_the_new_path():
    f = ptc.filter_jit(lambda tree: tree)
    f({"a": jnp.ones(1)})
    f({"a": jnp.ones(1), "b": jnp.ones(1)})
    assert "tree['b']: (absent) -> f32[1]" in f.explain_retrace()


@pytest.mark.parametrize("values", [(1, 1.0), (1, True), (0.0, False)])
def test_static_leaves_are_keyed_by_type_and_value(values):
    fun, traces = counting(lambda x, k: (x, k))
    f = ptc.filter_jit(fun)
    outs = [f(jnp.ones(1), v)[1] for v in values]
    assert len(traces) == 2
    assert [type(o) for o in outs] == [type(v) for v in values]


def test_positional_and_keyword_calls_share_a_trace():
    fun, traces = counting(lambda x, y=2.0: x * y)
    f = ptc.filter_jit(fun)
    f(jnp.ones(1), 2.0)
    f(jnp.ones(1), y=2.0)
    f(x=jnp.ones(1), y=2.0)
    f(jnp.ones(1))
    assert len(traces) == 1


def test_bad_call_signature_names_the_function():
    @ptc.filter_jit
    def needs_two(x, y):
        return x

    with pytest.raises(TypeError, match=r"needs_two\(\).*missing a required argument: 'y'"):
        needs_two(jnp.ones(1))


def test_wrappers_of_one_function_share_the_cache():
    fun, traces = counting(lambda x: x + 1)
    ptc.filter_jit(fun)(jnp.ones(2))
    ptc.filter_jit(fun)(jnp.ones(2))
    assert len(traces) == 1


def test_filter_jit_of_rebuilt_filter_grad_does_not_retrace():
    fun, traces = counting(lambda model, x: jnp.sum(model(x)))
    for _ in range(3):
        ptc.filter_jit(ptc.filter_grad(fun))(make_model(), jnp.ones(3))
    assert len(traces) == 1


def test_pytree_callable_has_its_arrays_traced_not_baked_in():
    model = make_model()
    f = ptc.filter_jit(model)
    first = f(jnp.ones(3))
    second = ptc.filter_jit(ptc.replace(model, weight=2 * jnp.ones(3)))(jnp.ones(3))
    np.testing.assert_allclose(second, np.tanh(2.0) * np.ones(3), rtol=1e-6)
    assert not np.allclose(first, second)
    assert f.trace_count() == 1


def test_bound_method_of_pytree_is_traced_and_shares_cache():
    @ptc.pytree_dataclass
    class Counter:
        w: jax.Array

        def apply(self, x):
            return self.w * x

    a = ptc.filter_jit(Counter(jnp.ones(2)).apply)
    b = ptc.filter_jit(Counter(3 * jnp.ones(2)).apply)
    a(jnp.ones(2))
    np.testing.assert_allclose(b(jnp.ones(2)), [3.0, 3.0])
    assert a.trace_count() == 1


def test_decorated_method_reached_through_equal_instances_does_not_retrace():
    traces = []

    @ptc.pytree_dataclass
    class Layer:
        w: jax.Array

        @ptc.filter_jit
        def forward(self, x):
            traces.append(1)
            return self.w @ x

    Layer(jnp.ones((2, 2))).forward(jnp.ones(2))
    out = Layer(2 * jnp.ones((2, 2))).forward(jnp.ones(2))
    np.testing.assert_allclose(out, [4.0, 4.0])
    assert len(traces) == 1


def test_outputs_may_hold_non_array_leaves():
    f = ptc.filter_jit(lambda model: (model.weight, model.name, model.activation, model.step))
    weight, name, activation, step = f(make_model(step=7))
    assert isinstance(weight, jax.Array)
    assert (name, activation, step) == ("m", jnp.tanh, 7)


def test_static_output_is_right_for_each_trace_of_one_key():
    f = ptc.filter_jit(lambda x: x.shape[0])
    assert f(jnp.ones(2)) == 2
    assert f(jnp.ones(5)) == 5
    assert f(jnp.ones(2)) == 2


def test_returns_pytree_dataclass_with_static_fields():
    out = ptc.filter_jit(lambda m: ptc.replace(m, step=m.step + 1))(make_model())
    assert isinstance(out, Model)
    assert out.step == 1


def test_unhashable_leaf_error_names_the_path_and_cache_stays_usable():
    fun, traces = counting(lambda model, options: model.weight)
    f = ptc.filter_jit(fun)
    with pytest.raises(TypeError, match=r"argument options\['tags'\] is a set.*hashable"):
        f(make_model(), {"tags": {1, 2}})
    f(make_model(), {"tags": frozenset({1, 2})})
    f(make_model(), {"tags": frozenset({1, 2})})
    assert len(traces) == 1


def test_errors_inside_the_function_propagate_unchanged():
    @ptc.filter_jit
    def broken(x):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        broken(jnp.ones(1))


def test_wrapper_keeps_metadata_and_exposes_lower():
    def documented(x):
        """Docs."""
        return x * 2

    f = ptc.filter_jit(documented)
    assert f.__name__ == "documented"
    assert f.__doc__ == "Docs."
    assert f.__wrapped__ is documented
    lowered = f.lower(jnp.ones(3))
    assert "mul" in lowered.as_text()


def test_bare_and_parameterised_decorator_forms():
    @ptc.filter_jit
    def a(x):
        return x

    @ptc.filter_jit(donate="none")
    def b(x):
        return x

    assert a(jnp.ones(1)).shape == b(jnp.ones(1)).shape == (1,)


def test_jit_kwargs_are_passed_to_jax_jit():
    sharding = jax.sharding.SingleDeviceSharding(jax.devices()[-1])  # not the default device
    out = ptc.filter_jit(lambda x: x + 1, out_shardings=sharding)(jnp.ones(2))
    assert out.sharding == sharding


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"donate": "some"}, ValueError, "donate='some'"),
        ({"static_argnums": 0}, TypeError, "does not take static_argnums"),
        ({"donate_argnums": 0}, TypeError, "does not take donate_argnums"),
    ],
)
def test_bad_options_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        ptc.filter_jit(lambda x: x, **kwargs)


def test_non_callable_is_rejected():
    with pytest.raises(TypeError, match="expects a callable"):
        ptc.filter_jit(3)


def test_donate_all_deletes_input_buffers():
    x = jnp.ones(4)
    ptc.filter_jit(lambda x: x + 1, donate="all")(x)
    assert x.is_deleted()


def test_donate_all_except_first_keeps_first_argument():
    model, x = make_model(), jnp.ones(3)
    ptc.filter_jit(lambda model, x: model.weight + x, donate="all-except-first")(model, x)
    assert not model.weight.is_deleted()
    assert x.is_deleted()


def test_max_traces_warns_with_the_retrace_explanation():
    f = ptc.filter_jit(lambda x, n: x * n, max_traces=1)
    f(jnp.ones(1), 1)
    with pytest.warns(ptc.RetraceWarning, match=r"traced 2 times \(max_traces=1\).*n: 1 -> 2"):
        f(jnp.ones(1), 2)


def test_max_traces_can_be_made_an_error():
    f = ptc.filter_jit(lambda x, n: x * n, max_traces=1)
    f(jnp.ones(1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptc.RetraceWarning)
        with pytest.raises(ptc.RetraceWarning):
            f(jnp.ones(1), 2)


def test_nested_inside_jax_jit():
    inner = ptc.filter_jit(lambda model, x: model(x))
    out = jax.jit(lambda x: inner(make_model(), x))(jnp.ones(3))
    assert out.shape == (3,)


def test_donate_all_except_first_splits_by_which_leaves_are_arrays():
    f = ptc.filter_jit(lambda a, b: (a[0] + b, a[1]), donate="all-except-first")
    first, b = (jnp.ones(2), 1.0), jnp.ones(2)
    f(first, b)
    assert not first[0].is_deleted()
    assert b.is_deleted()
    first, b = (jnp.ones(2), jnp.ones(2)), jnp.ones(2)
    f(first, b)
    assert not first[0].is_deleted()
    assert not first[1].is_deleted()
    assert b.is_deleted()


def test_wrapping_a_pytree_does_not_copy_its_fields_onto_the_wrapper():
    f = ptc.filter_jit(make_model())
    assert not hasattr(f, "weight")


def test_keyword_only_and_var_keyword_arrays_are_traced():
    seen = []

    @ptc.filter_jit
    def f(x, *, scale, **extra):
        seen.append((type(scale), type(extra["shift"])))
        return x * scale + extra["shift"]

    out = f(jnp.ones(2), scale=2 * jnp.ones(2), shift=jnp.ones(2))
    f(jnp.ones(2), shift=jnp.ones(2), scale=3 * jnp.ones(2))
    np.testing.assert_allclose(out, [3.0, 3.0])
    assert all(issubclass(t, jax.core.Tracer) for t in seen[0])
    assert f.trace_count() == 1


def test_lower_accepts_shape_dtype_structs_like_jax_jit():
    f = ptc.filter_jit(lambda x, name: x * 2)
    lowered = f.lower(jax.ShapeDtypeStruct((3,), jnp.float32), "n")
    assert "3xf32" in lowered.as_text()
    assert not ptc.is_array(jax.ShapeDtypeStruct((3,), jnp.float32))


# --- ahead of time ----------------------------------------------------------------------


def test_lower_compile_is_called_with_the_functions_own_arguments():
    f = ptc.filter_jit(lambda x, n, name: (x * n, name))
    compiled = f.lower(jnp.ones(3), 4, "a").compile()
    out, name = compiled(jnp.arange(3.0), 4, "a")
    assert jnp.array_equal(out, jnp.arange(3.0) * 4) and name == "a"
    assert compiled.cost_analysis() is not None
    with pytest.raises(TypeError, match=r"static \(non-array\) values differ.*Lower it again"):
        compiled(jnp.ones(3), 5, "a")


def test_lower_compile_with_donation_of_all_but_the_first_argument():
    f = ptc.filter_jit(lambda keep, give: keep + give, donate="all-except-first")
    compiled = f.lower(jnp.ones(2), jnp.ones(2)).compile()
    assert jnp.array_equal(compiled(jnp.ones(2), jnp.ones(2)), 2 * jnp.ones(2))


def test_lower_compile_of_a_model_matches_equinox():
    import equinox as eqx

    @ptc.pytree_dataclass
    class Scale:
        factor: jax.Array

        def __call__(self, x):
            return self.factor * x

    model, x = Scale(jnp.asarray(3.0)), jnp.ones(2)
    ours = ptc.filter_jit(model).lower(x).compile()(x)
    theirs = eqx.filter_jit(lambda m, x: m(x)).lower(model, x).compile()(model, x)
    assert jnp.array_equal(ours, theirs)


# --- trace accounting -------------------------------------------------------------------


def test_a_trace_that_raised_is_not_counted():
    @ptc.filter_jit
    def f(x, fail):
        if fail:
            raise RuntimeError("boom")
        return x

    with pytest.raises(RuntimeError, match="boom"):
        f(jnp.ones(1), True)
    assert f.trace_count() == 0
    f(jnp.ones(1), False)
    assert f.trace_count() == 1


def test_retrace_warning_as_error_keeps_the_explanation_true():
    f = ptc.filter_jit(lambda x, n: x * n, max_traces=1)
    f(jnp.ones(1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptc.RetraceWarning)
        with pytest.raises(ptc.RetraceWarning, match="n: 1 -> 2"):
            f(jnp.ones(1), 2)
        f(jnp.ones(1), 2)  # cached now: no second warning, no retrace
    assert f.trace_count() == 2
    assert f.explain_retrace() == "n: 1 -> 2"


def test_retrace_warning_points_at_the_callers_line():
    f = ptc.filter_jit(lambda x, n: x * n, max_traces=1)
    f(jnp.ones(1), 1)
    with pytest.warns(ptc.RetraceWarning) as record:
        f(jnp.ones(1), 2)
    assert record[0].filename == __file__


def test_explain_retrace_names_only_the_subtree_whose_structure_changed():
    @ptc.pytree_dataclass
    class Layer:
        w: jax.Array

    @ptc.pytree_dataclass
    class Other:
        w: jax.Array

    f = ptc.filter_jit(lambda model: model)
    layers = tuple(Layer(jnp.ones(2)) for _ in range(50))
    f({"layers": layers, "head": Layer(jnp.ones(1))})
    f({"layers": layers, "head": Other(jnp.ones(1))})
    explanation = f.explain_retrace()
    assert "model['head']: " in explanation and "Layer -> " in explanation
    assert "Other" in explanation and "layers" not in explanation
    assert len(explanation) < 200


# --- static float keys ------------------------------------------------------------------


def test_negative_zero_is_a_different_static_value():
    f = ptc.filter_jit(lambda x, d: x / d)
    assert float(f(jnp.ones(()), 0.0)) == float("inf")
    assert float(f(jnp.ones(()), -0.0)) == float("-inf")
    assert f.trace_count() == 2


def test_a_fresh_nan_hits_its_cache_entry():
    f = ptc.filter_jit(lambda x, v: x)
    for _ in range(3):
        f(jnp.ones(()), float("nan"))
    f(jnp.ones(()), complex(float("nan"), -0.0))
    f(jnp.ones(()), complex(float("nan"), -0.0))
    assert f.trace_count() == 2


# --- smaller gaps -----------------------------------------------------------------------


def test_shape_dtype_struct_outputs_come_back_as_equinox_returns_them():
    import equinox as eqx

    def describe(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype), x

    f = ptc.filter_jit(describe)
    f.lower(jax.ShapeDtypeStruct((2,), jnp.float32))  # learns ShapeDtypeStruct as an input
    struct, _ = f(jnp.ones(2))
    assert struct == eqx.filter_jit(describe)(jnp.ones(2))[0]


def test_keyword_only_defaults_share_a_trace():
    @ptc.filter_jit
    def f(x, *, k=3):
        return x * k

    f(jnp.ones(1))
    f(jnp.ones(1), k=3)
    assert f.trace_count() == 1


def test_the_type_memo_keeps_no_leaf_class_alive():
    import gc
    import weakref

    from pytreeclass._static_key import is_array_type  # the memo that filter_jit consults

    def make():
        class Tag:
            pass

        assert not is_array_type(Tag)
        assert not is_array_type(Tag)  # the memoised answer
        return weakref.ref(Tag)

    ref = make()
    gc.collect()
    assert ref() is None


def test_a_model_compiles_under_its_class_name():
    @ptc.pytree_dataclass
    class MLP:
        w: jax.Array

        def __call__(self, x):
            return self.w * x

    text = ptc.filter_jit(MLP(jnp.ones(2))).lower(jnp.ones(2)).as_text()
    assert "jit_MLP.__call" in text  # JAX drops the trailing underscores


# --- diagnostics belong to the wrapper the user holds -----------------------------------


def test_two_wrappers_sharing_one_cache_count_only_their_own_traces():
    def loss_a(x):
        return jnp.sum(x)

    def loss_b(x):
        return jnp.sum(x * 2)

    a = ptc.filter_jit(ptc.filter_grad(loss_a), max_traces=1)
    b = ptc.filter_jit(ptc.filter_grad(loss_b), max_traces=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ptc.RetraceWarning)  # neither goes over its limit
        a(jnp.ones(2))
        b(jnp.ones(2))
        a(jnp.ones(2))
    assert (a.trace_count(), b.trace_count()) == (1, 1)
    assert a.explain_retrace() is None


def test_a_retrace_warning_names_the_users_function():
    def my_loss(x):
        return jnp.sum(x)

    f = ptc.filter_jit(ptc.filter_grad(my_loss), max_traces=1)
    f(jnp.ones(2))
    with pytest.warns(ptc.RetraceWarning, match=r"filter_jit\(my_loss\) has traced 2 times") as w:
        f(jnp.ones(3))
    assert "_GradWrapper" not in str(w[0].message)
    assert w[0].filename == __file__  # the caller's line


def test_under_disable_jit_nothing_counts_as_a_trace():
    f = ptc.filter_jit(lambda x, n: x * n, max_traces=1)
    with jax.disable_jit(), warnings.catch_warnings():
        warnings.simplefilter("error", ptc.RetraceWarning)
        for n in range(3):
            np.testing.assert_allclose(f(jnp.ones(2), n), n)
    assert f.trace_count() == 0 and f.explain_retrace() is None


def test_explain_retrace_names_the_leaf_whose_weak_type_changed():
    f = ptc.filter_jit(lambda model: model["lr"] * 2)
    f({"lr": jnp.asarray(0.1, jnp.float32)})
    f({"lr": jnp.asarray(0.1)})  # weakly typed
    assert f.explain_retrace() == "model['lr']: f32[] -> f32[] weak"


def test_explain_retrace_names_the_leaf_whose_sharding_changed():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("x",))
    sharded = jax.device_put(jnp.ones(4), jax.sharding.NamedSharding(mesh, P("x")))
    f = ptc.filter_jit(lambda state: state["count"] + state["w"])
    f({"count": jnp.ones(4), "w": jnp.ones(4)})
    f({"count": sharded, "w": jnp.ones(4)})
    explained = f.explain_retrace()
    assert explained.startswith("state['count']: f32[4] -> f32[4] on NamedSharding(")
    assert "'w'" not in explained


# --- binding keeps the wrapper's own defaults -------------------------------------------


def to_dtype(x, dtype=jnp.float32):
    return x.astype(dtype)


@functools.wraps(to_dtype)
def to_half(x, dtype=jnp.float16):
    return to_dtype(x, dtype)


def test_a_functools_wraps_wrapper_is_called_with_its_own_defaults():
    assert to_half(jnp.ones(2)).dtype == jnp.float16
    assert ptc.filter_jit(to_half)(jnp.ones(2)).dtype == jnp.float16


# --- donation conventions (Equinox's) ---------------------------------------------------


class EqxModel(eqx.Module):
    w: jax.Array

    def step(self, x):
        return self.w * 2 + x, x * 2


@ptc.pytree_dataclass
class PtcModel:
    w: jax.Array

    def step(self, x):
        return self.w * 2 + x, x * 2


@pytest.mark.parametrize(
    ("jit", "model_class"),
    [(ptc.filter_jit, PtcModel), (eqx.filter_jit, EqxModel)],
    ids=["ptc", "eqx"],
)
def test_all_except_first_on_a_bound_method_donates_the_instance(jit, model_class):
    model, x = model_class(jnp.ones(3)), jnp.ones(3)
    jit(model.step, donate="all-except-first")(x)
    assert model.w.is_deleted() and not x.is_deleted()


@pytest.mark.parametrize("jit", [ptc.filter_jit, eqx.filter_jit], ids=["ptc", "eqx"])
def test_donate_all_is_quiet_and_donate_warn_warns_about_unusable_buffers(jit):
    def summed(x):
        return jnp.sum(x)  # x's buffer cannot hold the result: unusable

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jit(summed, donate="all")(jnp.ones(3))
    with pytest.warns(UserWarning, match="donated buffers were not usable"):
        jit(summed, donate="warn")(jnp.ones(4))


def test_an_unknown_donate_mode_lists_the_modes():
    with pytest.raises(ValueError, match="warn-except-first"):
        ptc.filter_jit(lambda x: x, donate="some")


# --- shardings shaped like the arguments and the outputs ----------------------------------


@ptc.pytree_dataclass
class Sharded:
    weight: jax.Array
    bias: jax.Array
    name: str = ptc.field(static=True, default="layer")

    def __call__(self, x, scale=2.0):
        return {"y": (x @ self.weight + self.bias) * scale, "tag": self.name}


def _mesh_shardings():
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:4]), ("model",))
    return jax.sharding.NamedSharding(mesh, P("model")), jax.sharding.NamedSharding(mesh, P())


def test_in_and_out_shardings_shaped_like_the_model_and_the_output():
    split, replicated = _mesh_shardings()
    model = Sharded(jnp.ones((3, 4)), jnp.zeros(4))
    shardings = Sharded(weight=jax.sharding.NamedSharding(split.mesh, P(None, "model")), bias=split)
    f = ptc.filter_jit(
        lambda m, x: m(x),  # the bound default `scale` and the static `name` need no entry
        in_shardings=(shardings, replicated),
        out_shardings={"y": split, "tag": None},  # a non-array output: None
    )
    out = f(model, jnp.ones(3))
    assert out["tag"] == "layer" and out["y"].sharding.is_equivalent_to(split, 1)
    direct = ptc.filter_jit(lambda x: x * 2, in_shardings=split, out_shardings=split)
    assert direct(jnp.ones(4)).sharding.is_equivalent_to(split, 1)


def test_shardings_of_the_wrong_shape_are_refused_naming_the_argument():
    split, _ = _mesh_shardings()
    f = ptc.filter_jit(lambda m, x: m(x), in_shardings=(split,))
    with pytest.raises(ValueError, match=r"1 entries for 2 positional arguments"):
        f(Sharded(jnp.ones((3, 4)), jnp.zeros(4)), jnp.ones(3))
    g = ptc.filter_jit(lambda m: m.weight, in_shardings=({"weight": split},))
    with pytest.raises(ValueError, match=r"in_shardings\[0\] is not shaped like"):
        g(Sharded(jnp.ones((4, 4)), jnp.zeros(4)))
    with pytest.raises(TypeError, match=r"in_shardings=.*one entry per positional argument"):
        ptc.filter_jit(lambda x: x, in_shardings="model")(jnp.ones(2))


class _CountedNode:
    """A pytree node whose Python flatten counts its calls."""

    flattens = 0

    def __init__(self, x):
        self.x = x


def _flatten_counted(node):
    _CountedNode.flattens += 1
    return (node.x,), None


jax.tree_util.register_pytree_node(_CountedNode, _flatten_counted, lambda _, xs: _CountedNode(*xs))


def test_a_cached_call_flattens_its_arguments_once():
    # jax.jit flattens its arguments itself: filter_jit hands it the leaves it
    # already flattened, never the arguments a second time (SPEC, Performance);
    # only all-array calls of a few leaves go to jax.jit as they are, for which
    # JAX's flatten is cheaper than looking their structure up.
    from pytreeclass._compiled import DIRECT_LEAVES

    f = ptc.filter_jit(lambda node, scale: sum(node.x) * scale)
    node = _CountedNode(tuple(jnp.ones(2) for _ in range(DIRECT_LEAVES)))
    for scale in (jnp.ones(()), 2.0):  # the all-array path, then one with a static
        f(node, scale)  # (first call of each key: traced)
        before = _CountedNode.flattens
        assert f(node, scale)[0] == DIRECT_LEAVES * scale
        assert _CountedNode.flattens - before == 1


def test_the_oldest_static_key_is_dropped_past_the_limit(monkeypatch):
    from pytreeclass import _compiled

    monkeypatch.setattr(_compiled, "_MAX_ENTRIES", 2)
    f = ptc.filter_jit(lambda x, n: x * n)
    for n in (1, 2, 3):
        f(jnp.ones(()), n)
    assert f.trace_count() == 3
    f(jnp.ones(()), 3)
    f(jnp.ones(()), 2)
    assert f.trace_count() == 3  # the two most recent keys are kept
    assert f(jnp.ones(()), 1) == 1.0
    assert f.trace_count() == 4  # the first was dropped, so it traces again


def test_filter_jit_of_a_wrapper_calls_it_as_written():
    # filter_jit(filter_vmap(f)) is keyed by f, but calls reach the wrapper as the
    # caller wrote them: filter_vmap maps keyword arguments on axis 0 and in_axes
    # covers the positional ones, so binding them to f's signature would change it.
    def product(x, y, z=2.0):
        return x * y * z

    x, ys = jnp.ones(2), jnp.arange(3.0)
    mapped = ptc.filter_vmap(lambda x, y: x * y, in_axes=None, axis_size=3)
    assert ptc.filter_jit(mapped)(x, y=ys[:, None]).shape == mapped(x, y=ys[:, None]).shape
    partly = ptc.filter_vmap(product, in_axes=(0, None))
    assert ptc.tree_equal(ptc.filter_jit(partly)(ys, 2.0), partly(ys, 2.0))


def test_explanations_through_a_wrapper_name_the_functions_parameters():
    def loss(params, x, scale):
        return jnp.sum(params * x) * scale

    step = ptc.filter_jit(ptc.filter_grad(loss))
    step(jnp.ones(3), jnp.arange(3.0), 1.0)
    step(jnp.ones(3), jnp.arange(3.0), 2.0)
    assert step.explain_retrace() == "scale: 1.0 -> 2.0"


class _Tag:
    """A static whose equality ignores its payload (as a config object's might)."""

    def __init__(self, name, payload):
        self.name, self.payload = name, payload

    def __eq__(self, other):
        return type(other) is _Tag and self.name == other.name

    def __hash__(self):
        return hash(self.name)


@pytest.mark.parametrize("n_arrays", [1, 8], ids=["few leaves", "many leaves"])
def test_a_trace_sees_the_statics_of_the_call_that_made_it(n_arrays):
    seen = []

    @ptc.filter_jit
    def f(xs, tag):
        seen.append(tag.payload)
        return sum(xs)

    f(tuple(jnp.ones(2) for _ in range(n_arrays)), _Tag("t", 1))
    f(tuple(jnp.ones(3) for _ in range(n_arrays)), _Tag("t", 2))  # a new shape: retraced
    with jax.disable_jit():
        f(tuple(jnp.ones(3) for _ in range(n_arrays)), _Tag("t", 3))
    assert seen == [1, 2, 3]


def test_the_array_type_memo_and_set_disagreeing_does_not_break_calls():
    from pytreeclass import _static_key

    f = ptc.filter_jit(lambda x, n: x * n)
    f(jnp.ones(2), 2)
    _static_key.KNOWN_ARRAY_TYPES.clear()  # the memo still says "array"
    assert f(jnp.ones(2), 3)[0] == 3.0
    assert type(jnp.ones(2)) in _static_key.KNOWN_ARRAY_TYPES
