"""bench/compare_peer.py runs end to end (no timing is asserted): on the
trained CNN at the smoke scale it times snncore and SpikingJelly in
alternating rounds and prints both and their ratio; a model SpikingJelly
refuses is an exit naming the refusal. Skips, saying why, where SpikingJelly,
the weights or the data are missing."""

import pytest

import compare_peer
from evaluation import skip_if_missing


def _needs_spikingjelly():
    import peers

    try:
        peers._import_spikingjelly()
    except peers.PeerMissing as e:
        pytest.skip(str(e))


def test_alternating_rounds_against_spikingjelly(capsys):
    _needs_spikingjelly()
    with skip_if_missing():
        compare_peer.main(["fashion_cnn", "--recipe", "percentile", "--scale", "smoke",
                           "--batch", "5", "--images", "10", "--rounds", "2", "-T", "4",
                           "--threads", "1", "--isa", "generic"])
    out = capsys.readouterr().out
    assert "fashion_cnn (percentile; SpikingJelly best), batch 5, T=4" in out
    assert "snncore kernels generic, 2 rounds of 10 images" in out
    assert "snncore/SpikingJelly per round: median" in out


def test_a_model_spikingjelly_refuses_is_named():
    _needs_spikingjelly()
    with skip_if_missing(), pytest.raises(SystemExit, match="no SpikingJelly network for "
                                                            "shufflenet_v2_x0_5: .*contiguous"):
        compare_peer.main(["shufflenet_v2_x0_5", "--scale", "smoke", "--batch", "2",
                           "--images", "2", "--rounds", "1", "-T", "2", "--threads", "1"])


@pytest.mark.parametrize("argv, message", [
    (["fashion_cnn", "--rounds", "0"], "must be at least 1"),
    (["fashion_cnn", "--recipe", "ltb"], "invalid choice"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        compare_peer.main(argv)
    assert message in capsys.readouterr().err
