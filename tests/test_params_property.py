"""Bad parameters, property-based: for every notebook's every parameter, any invalid value or type gives the runner's
clear ParameterError naming the parameter (never a traceback from torch or papermill); any valid value is accepted.

The strategies are derived from the schemas themselves, so a notebook added to the registry is covered automatically.
"""
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acai_repro.cli import main
from acai_repro.runner import CHAPTERS, ParameterError, get_schema, resolve
from acai_repro.runner.schema import Param

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PARAMS = [(nb, name, param) for nb in CHAPTERS for name, param in get_schema(nb).params.items()]
IDS = [f"{nb}.{name}" for nb, name, _ in PARAMS]


def wrong_type(param: Param) -> st.SearchStrategy:
    """Values of a type the parameter never accepts."""
    others = {
        int: st.one_of(st.text(max_size=5), st.floats(allow_nan=True).filter(lambda v: not float(v).is_integer()),
                       st.booleans(), st.none(), st.lists(st.integers(), max_size=2)),
        float: st.one_of(st.text(max_size=5), st.booleans(), st.none(), st.lists(st.floats(), max_size=2)),
        bool: st.one_of(st.integers(), st.text(max_size=5), st.none(), st.floats()),
        str: st.one_of(st.integers(), st.floats(), st.booleans(), st.none()),
    }
    return others[param.kind]


def out_of_range(param: Param) -> st.SearchStrategy | None:
    """Values of the right type outside the bounds or choices, or None when the parameter has neither."""
    if param.choices is not None:
        base = st.text(max_size=12) if param.kind is str else st.integers(-10**6, 10**6)
        return base.filter(lambda v: v not in param.choices)
    if param.low is None and param.high is None:
        return None if param.kind is not float else st.sampled_from([math.nan, math.inf, -math.inf])
    number = st.integers if param.kind is int else (lambda lo=None, hi=None: st.floats(lo, hi, allow_nan=False))
    sides = []
    if param.low is not None:
        sides.append(number(None, math.ceil(param.low) - 1) if param.kind is int else
                     st.floats(max_value=param.low, exclude_max=True, allow_nan=False, allow_infinity=False))
    if param.high is not None:
        sides.append(number(math.floor(param.high) + 1, None) if param.kind is int else
                     st.floats(min_value=param.high, exclude_min=True, allow_nan=False, allow_infinity=False))
    return st.one_of(*sides)


def valid(param: Param) -> st.SearchStrategy:
    if param.choices is not None:
        return st.sampled_from(list(param.choices))
    if param.kind is bool:
        return st.booleans()
    if param.kind is str:
        return st.text(alphabet="abc/_-.", max_size=8)
    if param.kind is int:
        return st.integers(int(param.low) if param.low is not None else -10**6,
                           int(param.high) if param.high is not None else 10**6)
    return st.floats(param.low if param.low is not None else -1e6, param.high if param.high is not None else 1e6,
                     allow_nan=False, allow_infinity=False)


def assert_names(err: ParameterError, name: str) -> None:
    assert repr(name) in str(err), f"the message does not name {name!r}: {err}"


@pytest.mark.parametrize("notebook, name, param", PARAMS, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_wrong_types_are_refused_with_the_parameter_named(notebook, name, param, data):
    value = data.draw(wrong_type(param))
    with pytest.raises(ParameterError) as err:
        get_schema(notebook).validate({name: value})
    assert_names(err.value, name)


@pytest.mark.parametrize("notebook, name, param", PARAMS, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_out_of_range_values_are_refused_and_the_valid_choices_named(notebook, name, param, data):
    strategy = out_of_range(param)
    if strategy is None:  # an unbounded string (e.g. run_dir): every string is valid; covered by the valid test
        assert param.kind is str and param.choices is None
        return
    value = data.draw(strategy)
    with pytest.raises(ParameterError) as err:
        get_schema(notebook).validate({name: value})
    assert_names(err.value, name)
    if param.choices is not None:
        assert "one of: " + ", ".join(map(str, param.choices)) in str(err.value)


@pytest.mark.parametrize("notebook, name, param", PARAMS, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_valid_values_are_accepted(notebook, name, param, data):
    value = data.draw(valid(param))
    if name == "profile":  # the profile is chosen by --profile, and a profile's file may set other values
        assert resolve(notebook, value)["profile"] == value
        return
    assert get_schema(notebook).validate({name: value})[name] == value


@pytest.mark.parametrize("notebook", CHAPTERS)
@settings(max_examples=15, deadline=None)
@given(name=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
def test_unknown_names_are_refused_with_the_valid_names(notebook, name):
    schema = get_schema(notebook)
    if name in schema.params:
        return
    with pytest.raises(ParameterError, match=f"unknown parameter {name!r}.*valid parameters: "):
        schema.validate({name: 1})


@pytest.mark.parametrize("notebook, name, param", [p for p in PARAMS if p[2].kind is not str], ids=[
    i for i, p in zip(IDS, PARAMS) if p[2].kind is not str])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet="xyz!?, ", min_size=1, max_size=6))
def test_cli_exits_2_naming_the_parameter_before_any_kernel_starts(notebook, name, param, text, capsys):
    # Letters and punctuation never parse as int, float or bool, so the run must stop at validation.
    capsys.readouterr()  # the fixture is shared by the generated examples: drop earlier output
    assert main(["run", notebook, "--profile", "smoke", "-p", name, text]) == 2
    assert f"parameter {name!r}" in capsys.readouterr().err
