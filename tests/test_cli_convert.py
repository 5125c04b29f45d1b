"""`snncore convert`, driven as a user drives it: `python -m snncore ...` in a
subprocess, on real files (a model factory module, its state dict, calibration
arrays) written into a temporary directory."""

import json

import numpy as np
import pytest
from clitools import FACTORY_ARGS, make_workdir, one_line_error, snncore, snncore_all

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory holding tinynet.py (the factory), its trained weights
    net.pt, calibration images x.npy / x.npz (uint8), test images and labels."""
    d = tmp_path_factory.mktemp("cli")
    make_workdir(torch, d)
    return d


def test_factory_and_weights_convert_and_run(work):
    r = snncore(work, "convert", *FACTORY_ARGS, "--factory-args", '{"num_classes": 10}',
                "--calibration", "x.npy", "-o", "net.npz")
    assert r.returncode == 0, r.stderr
    assert "population" in r.stdout.lower() or "layer" in r.stdout.lower(), r.stdout
    assert (work / "net.npz").exists()
    r = snncore(work, "run", "net.npz", "x_test.npy", "--labels", "y_test.npy", "-T", "32")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[:2], r.stdout.splitlines()[-1]
    assert "accuracy %" in header[0]
    accuracy = float(row.split()[1])
    assert accuracy > 80, r.stdout
    r = snncore(work, "info", "net.npz")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_low_latency_recipe_with_an_override(work):
    import snncore as sc

    recipe, override = snncore_all(
        work,
        ["convert", *FACTORY_ARGS, "--dataset", "digits", "--calibration-images", "100",
         "--recipe", "low-latency", "-T", "8", "--ltb-batches", "5", "-o", "ll.npz", "-q"],
        ["convert", *FACTORY_ARGS, "--calibration", "x.npy", "--recipe", "low-latency", "-T", "8",
         "--no-bias-calibration", "--norm", "percentile", "--retract", "-o", "ll2.npz", "-q"])
    assert recipe.returncode == 0, recipe.stderr
    prov = sc.load(work / "ll.npz").provenance
    assert prov["norm"] == "ltb" and prov["v_init"] == 0.5 and prov["ltb_batches"] == 5
    assert prov["bias_calibration"]["timesteps"] == 8
    assert prov["calibration_images"] == 100
    assert override.returncode == 0, override.stderr
    prov = sc.load(work / "ll2.npz").provenance
    assert prov["norm"] == "percentile" and prov["v_init"] == 0.5
    assert "bias_calibration" not in prov
    assert "retract" in prov and "retract" not in sc.load(work / "ll.npz").provenance


def test_retract_with_reset_zero_is_one_clear_error(work):
    r = snncore(work, "convert", *FACTORY_ARGS, "--calibration", "x.npy", "--retract",
                "--reset", "zero", "-o", "r.npz")
    assert r.returncode != 0
    assert "retract=True needs reset='subtract'" in one_line_error(r)


def test_calibration_from_npz_by_key_and_options(work):
    import snncore as sc

    # the first array is the labels (int64, not images); a key that is not there
    first, missing = snncore_all(
        work, ["convert", *FACTORY_ARGS, "--calibration", "x.npz", "-o", "k.npz"],
        ["convert", *FACTORY_ARGS, "--calibration", "x.npz", "--calibration-key", "nope",
         "-o", "k.npz"])
    assert "uint8 or float" in one_line_error(first)
    assert "labels, images" in one_line_error(missing)
    r = snncore(work, "convert", *FACTORY_ARGS, "--calibration", "x.npz", "--calibration-key",
                "images", "--calibration-images", "50", "-o", "k.npz", "--quiet",
                "--norm", "max", "--reset", "zero", "--v-init", "0.5", "--encoding", "poisson",
                "--readout-delay", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and r.stderr == ""
    prov = sc.load(work / "k.npz").provenance
    assert prov["calibration_images"] == 50
    assert prov["norm"] == "max" and prov["reset"] == "zero" and prov["v_init"] == 0.5
    assert prov["readout_delay"] == {"start": 3}


def test_an_empty_calibration_set_is_refused(work):
    np.save(work / "empty.npy", np.zeros((0, 1, 8, 8), np.float32))
    r = snncore(work, "convert", *FACTORY_ARGS, "--calibration", "empty.npy", "-o", "e.npz")
    assert "empty" in one_line_error(r)
    assert not (work / "e.npz").exists()


def test_images_the_model_does_not_take_are_one_line(work):
    np.save(work / "big.npy", np.zeros((4, 1, 28, 28), np.float32))
    r = snncore(work, "convert", *FACTORY_ARGS, "--calibration", "big.npy", "-o", "b.npz")
    assert "(2, 1, 28, 28)" in one_line_error(r)


def test_a_pickled_module_needs_trust_pickle(work):
    refused, trusted, as_weights, state_dict = snncore_all(
        work, ["convert", "--model", "whole.pt", "--calibration", "x.npy", "-o", "p.npz"],
        ["convert", "--model", "whole.pt", "--trust-pickle", "--calibration", "x.npy",
         "-o", "p2.npz", "-q"],
        # given as --weights it is refused too, pointing at --model --trust-pickle
        ["convert", "--factory", "tinynet:make", "--weights", "whole.pt", "--calibration",
         "x.npy", "-o", "p3.npz"],
        # and a state dict given as --model points at --factory
        ["convert", "--model", "net.pt", "--calibration", "x.npy", "-o", "p4.npz"])
    line = one_line_error(refused)
    assert "--trust-pickle" in line and "arbitrary code" in line
    assert not (work / "p.npz").exists()
    assert trusted.returncode == 0, trusted.stderr
    assert (work / "p2.npz").exists()
    assert "--trust-pickle" in one_line_error(as_weights)
    assert "--factory" in one_line_error(state_dict)


def _same_network(a, b, names=True):
    """Two networks converted from one model hold the same layers, thresholds
    and weights (the same outputs on the same images), under the same names
    unless `names` is False."""
    import snncore as sc

    na, nb = sc.load(a), sc.load(b)
    da, db = na.describe(), nb.describe()
    da.pop("provenance"), db.pop("provenance")      # which holds the conversion's seconds
    if names:
        assert da == db
    else:
        for key in ("populations", "projections"):
            assert [{k: v for k, v in item.items() if k not in ("name", "source", "target")}
                    for item in da[key]] == [
                {k: v for k, v in item.items() if k not in ("name", "source", "target")}
                for item in db[key]]
    x = np.load(a.parent / "x_test.npy")[:20]
    ra, rb = na.run(x, timesteps=16), nb.run(x, timesteps=16)
    np.testing.assert_array_equal(ra.outputs, rb.outputs)


def test_torchscript_and_export_programs_convert_as_the_python_model(work):
    import tinynet  # noqa: F401  (on sys.path through the fixture's directory)

    model = torch.load(work / "whole.pt", weights_only=False).eval()
    torch.jit.script(model).save(str(work / "scripted.pt"))
    torch.jit.trace(model, torch.zeros(2, 1, 8, 8)).save(str(work / "traced.pt"))
    # exported on one image: the batch size the export fixed must not matter
    torch.export.save(torch.export.export(model, (torch.zeros(1, 1, 8, 8),)),
                      str(work / "exported.pt2"))
    runs = snncore_all(work, *[["convert", *FACTORY_ARGS, "--calibration", "x.npy",
                                "-o", "py.npz", "-q"]] + [
        ["convert", "--model", f, "--calibration", "x.npy", "-o", f"{f}.npz", "-q"]
        for f in ("scripted.pt", "traced.pt", "exported.pt2")])
    for r in runs:
        assert r.returncode == 0, r.stderr
    # an export records the modules that ran each operator, and TorchScript does not: its
    # parameterless layers take the operator's name ('avg_pool2d', not 'pool')
    _same_network(work / "py.npz", work / "exported.pt2.npz")
    for f in ("scripted.pt", "traced.pt"):
        _same_network(work / "py.npz", work / f"{f}.npz", names=False)
    # the recipe traces the model without running it: the export gives it the graph; and
    # the ANN beside a run can be either file too
    recipe, *compared = snncore_all(work, *[
        ["convert", "--model", "scripted.pt", "--calibration", "x.npy", "--recipe",
         "low-latency", "-T", "8", "--ltb-batches", "2", "-o", "ts8.npz", "-q"]] + [
        ["run", "py.npz", "x_test.npy", "--labels", "y_test.npy", "-T", "16", "--compare-ann",
         f, "--format", "json"] for f in ("scripted.pt", "exported.pt2")])
    assert recipe.returncode == 0, recipe.stderr
    for r in compared:
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["ann"]["accuracy"] > 0.8


def test_a_whole_model_given_as_weights_is_refused(work):
    import tinynet  # noqa: F401

    model = torch.load(work / "whole.pt", weights_only=False).eval()
    torch.jit.script(model).save(str(work / "scripted_w.pt"))
    torch.export.save(torch.export.export(model, (torch.zeros(2, 1, 8, 8),)),
                      str(work / "exported_w.pt2"))
    script, export = snncore_all(work, *[
        ["convert", "--factory", "tinynet:make", "--weights", f, "--calibration", "x.npy",
         "-o", "w.npz"] for f in ("scripted_w.pt", "exported_w.pt2")])
    assert "--weights scripted_w.pt is TorchScript, a whole model" in one_line_error(script)
    assert "--weights exported_w.pt2 is a torch.export program" in one_line_error(export)


def test_a_broken_export_file_is_one_line(work):
    import zipfile

    with zipfile.ZipFile(work / "broken.pt2", "w") as z:
        z.writestr("broken/archive_format", "pt2")
        z.writestr("broken/models/model.json", "{not json")
    r = snncore(work, "convert", "--model", "broken.pt2", "--calibration", "x.npy",
                "-o", "b.npz")
    assert "broken.pt2 looks like a torch.export program but does not load" in \
        one_line_error(r)


@pytest.mark.parametrize("args", [
    [],                                                              # no subcommand
    ["convert", "--factory", "tinynet:make", "--weights", "net.pt", "-o", "x.npz"],  # no data
    ["convert", "--factory", "tinynet:make", "--calibration", "x.npy"],             # no -o
    ["convert", "--factory", "tinynet", "--calibration", "x.npy", "-o", "x.npz"],   # no :
    ["convert", *FACTORY_ARGS, "--calibration", "x.npy", "-o", "x.npz", "--norm", "bogus"],
    ["convert", *FACTORY_ARGS, "--factory-args", "[1]", "--calibration", "x.npy", "-o", "x.npz"],
    ["convert", *FACTORY_ARGS, "--dataset", "digits", "--recipe", "low-latency", "-o", "x.npz"],
    ["convert", "--model", "m.pt", "--weights", "net.pt", "--dataset", "digits", "-o", "x.npz"],
    ["run", "net.npz"],
])
def test_bad_arguments_exit_2(work, args):
    r = snncore(work, *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "usage:" in r.stderr and "Traceback" not in r.stderr


def test_a_missing_weights_file_is_one_line(work):
    r = snncore(work, "convert", "--factory", "tinynet:make", "--weights", "missing.pt",
                "--calibration", "x.npy", "-o", "m.npz")
    assert "missing.pt" in one_line_error(r)


def test_debug_shows_the_traceback(work):
    r = snncore(work, "convert", "--factory", "tinynet:make", "--weights", "missing.pt",
                "--calibration", "x.npy", "-o", "m.npz", "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr and "missing.pt" in r.stderr
    r = snncore(work, "--debug", "info", "missing.npz")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_info_and_run_failures_are_one_line(work):
    assert "missing.npz" in one_line_error(snncore(work, "info", "missing.npz"))
    (work / "bad.npz").write_bytes(b"not a zip")
    one_line_error(snncore(work, "info", "bad.npz"))


@pytest.mark.parametrize("command", ["convert", "info", "run"])
def test_help_has_examples(work, command):
    r = snncore(work, command, "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and f"snncore {command}" in r.stdout
