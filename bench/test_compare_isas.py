"""bench/compare_isas.py runs end to end (no timing is asserted): on a small
network it times two kernel sets in alternating rounds and says they agree."""

import numpy as np

import compare_isas
import snncore


def _small_network(path):
    rng = np.random.default_rng(0)
    b = snncore.NetworkBuilder((2, 6, 6))
    b.population("c", (4, 6, 6), threshold=0.5)
    b.conv2d("c", "input", "c", rng.normal(0, 0.5, (4, 2, 3, 3)).astype(np.float32), padding=1)
    b.population("out", (3,), kind="accumulate")
    b.dense("out", "c", "out", rng.normal(0, 0.1, (3, 144)).astype(np.float32))
    b.build("out").save(path)


def test_two_kernel_sets_in_alternating_rounds(tmp_path, capsys):
    _small_network(tmp_path / "n.npz")
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((6, 2, 6, 6), np.float32))
    best = snncore.load(tmp_path / "n.npz").isa      # the widest set this CPU has
    compare_isas.main([str(tmp_path / "n.npz"), str(tmp_path / "x.npy"), "--isas",
                       f"generic,{best}", "--images", "6", "--rounds", "2", "-T", "4",
                       "--batch", "3"])
    out = capsys.readouterr().out
    assert "generic" in out and f"{best}/generic per round" in out and "same results" in out
