"""bench/profile_model.py runs end to end (no timing is asserted): the
trained CNN's engine time by kind of layer, at the smoke scale. Skips,
saying why, where the weights or the data are missing."""

import pytest

import profile_model
from evaluation import skip_if_missing


def test_time_by_kind_of_layer(capsys):
    with skip_if_missing():
        profile_model.main(["fashion_cnn", "--recipe", "percentile", "--scale", "smoke",
                            "--images", "4", "-T", "4", "--rounds", "1", "--isa", "generic"])
    out = capsys.readouterr().out
    assert "fashion_cnn (percentile), T=4, 4 images, 1 thread(s), kernels generic" in out
    # conv2 is fed by the pool relay, fc2 by the IF population act3
    assert "projection: conv, 32-63 input channels, from a relay" in out
    assert "projection: dense (linear) " in out
    assert "population: threshold pass " in out and "population: relay pass " in out
    shares = [float(line.split()[-2].rstrip("%")) for line in out.splitlines()
              if line.startswith(("projection:", "population:"))]
    assert sum(shares) == pytest.approx(100, abs=0.5)


def test_a_population_is_named_by_what_its_pass_does():
    assert profile_model.population_kind({"kind": "if"}) == "threshold pass"
    assert profile_model.population_kind({"kind": "if", "signed": True}) == \
        "threshold pass, signed"
    assert profile_model.population_kind({"kind": "if", "signed": True, "retract": True}) == \
        "threshold pass, retracting"
    assert profile_model.population_kind({"kind": "relay"}) == "relay pass"


@pytest.mark.parametrize("argv, message", [
    (["fashion_cnn", "--rounds", "0"], "must be at least 1"),
    (["fashion_cnn", "--recipe", "ltb"], "invalid choice"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        profile_model.main(argv)
    assert message in capsys.readouterr().err
