"""Run options (bench.config): resolve, profiles, run keys, ``--set`` and strategy settings."""

import dataclasses

import pytest
from helpers import one_line

import bench.registry as registry
import bench.sweep
from bench.cli import _override, main
from bench.config import PER_RUN, RunConfig, resolve
from bench.errors import ConfigError, UserError

# the run options a user may set: every field of RunConfig that the sweep does not set per run
USER_OPTIONS = [f for f in dataclasses.fields(RunConfig) if f.name not in PER_RUN]


# ----------------------------------------------------------------------------------------------
# resolve and profiles
# ----------------------------------------------------------------------------------------------


def test_resolve_rejects_misspelled_option_by_name():
    with pytest.raises(ValueError, match="determistic"):
        resolve("quick", determistic=True)
    with pytest.raises(ValueError, match="hiden.*did you mean 'hidden'"):
        resolve("quick", hiden=(3,))


def test_resolve_rejects_unknown_profile():
    with pytest.raises(ValueError, match="quik.*did you mean 'quick'"):
        resolve("quik")


@pytest.mark.parametrize("override,needle", [
    ({"lr": 0.0}, "learning rate"), ({"dropout": 1.0}, "dropout"), ({"hidden": (4, 0)}, "hidden"),
    ({"optimizer": "adamw"}, "adamw"),
    ({"peephole_order": "lasagne"}, "lasagne"), ({"steps": 0}, "steps"),
])
def test_resolve_rejects_invalid_values(override, needle):
    with pytest.raises(ValueError, match=needle):
        resolve("quick", **override)


def test_resolve_profiles():
    assert resolve("quick").sizes == (7, 32, 16, 7)
    assert resolve("standard").sizes == (7, 64, 32, 7)
    assert resolve("large").sizes == (7, 1024, 128, 7)
    assert resolve("seed") == resolve("large")  # the old name of the profile is an alias
    assert resolve("quick", hidden=[8]).sizes == (7, 8, 7)


# ----------------------------------------------------------------------------------------------
# run keys
# ----------------------------------------------------------------------------------------------

# The quick profile written out by hand (bench/config.py's PROFILES["quick"] over RunConfig's
# defaults): a config built from it directly must have the key of resolve("quick").
QUICK_BY_HAND = dict(profile="quick", hidden=(32, 16), window=32, steps=400, val_every=20,
                     val_sequences=16, val_length=256, test_sequences=32, test_length=1024,
                     init_sequences=1)


def test_equal_configs_built_independently_share_one_key():
    key = resolve("quick").key()
    assert len(key) == 16 and int(key, 16) >= 0  # 16 hex digits
    assert RunConfig(**QUICK_BY_HAND).key() == key
    # the defaults spelled out, and hidden given as a list, are the same config
    assert resolve("quick", lr=1e-3, seed=0, dropout=0.33, hidden=[32, 16]).key() == key
    # settings are a set of pairs: the order they are given in does not matter
    assert (resolve("quick", settings={"a": 1, "b": "x"}).key()
            == resolve("quick", settings={"b": "x", "a": 1}).key())
    assert resolve("seed").key() == resolve("large").key()  # an alias is the same profile


@pytest.mark.parametrize("change", [
    {"lr": 2e-3}, {"seed": 1}, {"dropout": 0.0}, {"hidden": (32, 17)}, {"strategy": "chrono"},
    {"dataset": "pink"}, {"peephole_order": "lasagne-0.1"}, {"settings": {"t_max": "64"}},
    {"strategy_code": "abc"},
])
def test_a_config_that_differs_in_one_value_has_another_key(change):
    by_hand = RunConfig(**{**QUICK_BY_HAND, **change})
    assert by_hand.key() == resolve("quick", **change).key()
    assert by_hand.key() != RunConfig(**QUICK_BY_HAND).key()


def test_strategy_settings_enter_the_key_of_that_strategy_only():
    chrono, glorot = registry.get_strategy("chrono"), registry.get_strategy("glorot")
    short = bench.sweep.SweepSpec(lrs=(1e-3,), seeds=1, settings={"chrono": {"t_max": "64"}})
    default = bench.sweep.SweepSpec(lrs=(1e-3,), seeds=1)
    (c_short,) = short.configs(chrono, "ar1", "default")
    (c_default,) = default.configs(chrono, "ar1", "default")
    assert c_short.setting("t_max") == "64" and c_default.setting("t_max") == "auto"
    assert c_short.key() != c_default.key()
    assert (short.configs(glorot, "ar1", "default")[0].key()
            == default.configs(glorot, "ar1", "default")[0].key())
    assert short.sweep_id != default.sweep_id


# ----------------------------------------------------------------------------------------------
# --set
# ----------------------------------------------------------------------------------------------


def _other_value(default: object) -> tuple[str, object]:
    """``(text, value)``: a value of ``default``'s type that differs from it, and its text."""
    if isinstance(default, tuple):
        value = (*default, 5)
        return ",".join(map(str, value)), value
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int):
        return str(default + 3), default + 3
    if isinstance(default, float):
        return repr(default * 2 + 0.5), default * 2 + 0.5
    if isinstance(default, str):
        return default + "-other", default + "-other"
    raise TypeError(f"no test value for {type(default).__name__}")


def test_the_user_options_are_the_fields_of_runconfig_less_the_per_run_ones():
    names = {f.name for f in USER_OPTIONS}
    assert {"hidden", "dropout", "steps", "peephole_order"} <= names
    assert names.isdisjoint({"lr", "seed", "strategy", "dataset", "profile", "settings"})


@pytest.mark.parametrize("field", USER_OPTIONS, ids=lambda f: f.name)
def test_every_run_option_parses_through_set_to_its_type(field):
    """``--set NAME=VALUE`` (and ``NAME-WITH-DASHES``) gives the option's own type and a
    non-default value, for every run option of RunConfig."""
    text, value = _other_value(field.default)
    assert value != field.default
    assert _override(f"{field.name}={text}") == ("", field.name, value)
    assert _override(f"{field.name.replace('_', '-')}={text}") == ("", field.name, value)
    assert type(_override(f"{field.name}={text}")[2]) is type(field.default)


@pytest.mark.parametrize("name", PER_RUN)
def test_set_of_a_per_run_field_is_refused(name):
    with pytest.raises(UserError, match=f"{name} is set per run"):
        _override(f"{name}=1")


def test_set_of_an_unknown_option_suggests_the_known_one():
    with pytest.raises(UserError, match="unknown option 'dropuot'.*did you mean 'dropout'"):
        _override("dropuot=0.1")


@pytest.mark.parametrize("name", ["seed", "lr", "strategy", "dataset"])
def test_run_set_of_per_run_field_is_a_user_error(no_sweep, tmp_path, capsys, name):
    value = {"seed": "1", "lr": "0.1", "strategy": "glorot", "dataset": "ar1"}[name]
    status = main(["run", "--out", str(tmp_path / "o"), "--strategies", "glorot", "--lrs", "1e-3",
                   "--seeds", "1", "--set", f"{name}={value}"])
    assert status == 2
    assert f"{name} is set per run" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["seed", "lr", "strategy", "dataset", "settings"])
def test_sweep_spec_rejects_a_per_run_field_as_override(name):
    value = {"seed": 1, "lr": 0.1, "strategy": "glorot", "dataset": "ar1", "settings": {}}[name]
    spec = bench.sweep.SweepSpec(strategies="glorot", lrs=(1e-3,), seeds=1,
                                 overrides={name: value})
    with pytest.raises(ConfigError, match=f"{name} is set per run") as info:
        spec.validate()
    assert info.value.setting == name


def test_run_set_profile_is_a_user_error(no_sweep, tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path / "o"), "--set", "profile=seed"]) == 2
    assert "profile" in one_line(capsys.readouterr().err)


def test_set_strategy_setting_is_checked_against_the_strategy(no_sweep, tmp_path, capsys):
    out = str(tmp_path / "o")
    for setting, needle in (("chrono.tmax=64", "did you mean 't_max'"),
                            ("chrono.t_max=2", "t_max must be > 2"),
                            ("chrono.t_max=abc", "not a valid t_max"),
                            ("glorot.t_max=64", "has no setting 't_max'"),
                            ("chrnoo.t_max=64", "did you mean 'chrono'")):
        assert main(["run", "--out", out, "--set", setting]) == 2
        err = one_line(capsys.readouterr().err)
        assert needle in err and err.startswith("error: --set")
    assert not (tmp_path / "o").exists()


def test_deprecated_profile_alias_prints_one_notice(no_sweep, tmp_path, capsys):
    """``--profile seed`` still works, as ``large``, with a one-line notice (the run itself is
    refused here by a bad --lrs, after the profile was read)."""
    assert main(["run", "--out", str(tmp_path / "o"), "--profile", "seed", "--lrs", "0"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "note: profile 'seed' is deprecated; use 'large'"
    assert err[1].startswith("error: --lrs")
