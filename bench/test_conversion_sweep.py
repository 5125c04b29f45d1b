"""bench/conversion_sweep.py's setting names: each becomes the from_torch
options it says, and a misspelt or misapplied one is refused before any work."""

import pytest

from conversion_sweep import RECIPE, setting_options

RESIDUAL_RECIPE = dict(norm="channel", v_init=0.5, retract=True, readout_delay="auto",
                       bias_calibration=True, timesteps=32, percentile=99.99)


def test_a_plain_setting_tunes_only_where_it_calibrates():
    assert setting_options("channel+half", 32) == dict(norm="channel", v_init=0.5)
    assert setting_options("channel+half+biascal", 16) == dict(
        norm="channel", v_init=0.5, bias_calibration=True, timesteps=16)


def test_a_suffix_sets_the_ltb_batches_or_the_percentile():
    assert setting_options("ltb+half@100", 32)["ltb_batches"] == 100
    assert setting_options("channel+half@p99.99", 32)["percentile"] == 99.99
    assert setting_options("percentile@p99.5", 32)["percentile"] == 99.5


def test_the_recipe_takes_the_model_s_options_and_a_percentile_over_them():
    assert setting_options(RECIPE, 32, RESIDUAL_RECIPE) == RESIDUAL_RECIPE
    lower = setting_options(RECIPE + "@p99.9", 32, RESIDUAL_RECIPE)
    assert lower == dict(RESIDUAL_RECIPE, percentile=99.9)
    assert RESIDUAL_RECIPE["percentile"] == 99.99        # not modified in place
    with pytest.raises(ValueError, match="the recipe's options depend on the model"):
        setting_options(RECIPE, 32)


@pytest.mark.parametrize("name, message", [
    ("chanel+half", "unknown setting 'chanel\\+half'"),
    ("channel+half@40", "applies to LTB settings only"),
    ("ltb+half@p99.9", "applies to percentile and channel settings only"),
    ("recipe@100", "applies to LTB settings only"),      # the residual recipe's norm is channel
    ("ltb+half@many", "needs an integer K"),
    ("channel@pmany", "needs a number P"),
])
def test_a_wrong_setting_is_refused_by_name(name, message):
    with pytest.raises(ValueError, match=message):
        setting_options(name, 32, RESIDUAL_RECIPE)
