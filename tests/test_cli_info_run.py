"""`snncore info --json` and `snncore run --format table|json|csv`, driven as a
user drives them: `python -m snncore ...` in a subprocess on the files in
tests/data."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import snncore

DATA = os.path.join(os.path.dirname(__file__), "data")
NET = os.path.join(DATA, "conv_pool_dense.npz")
X = os.path.join(DATA, "conv_pool_dense.x.npy")
RUN_ARGS = ["-T", "16", "--checkpoints", "4,8", "--encoding", "poisson", "--seed", "5"]


def snncore_cli(*args):
    return subprocess.run([sys.executable, "-m", "snncore", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    n = len(np.load(X))
    path = tmp_path_factory.mktemp("labels") / "y.npy"
    y = (np.arange(n) % 4).astype(np.int64)
    np.save(path, y)
    return str(path), y


def python_run():
    net = snncore.load(NET)
    res = net.run(np.load(X), 16, checkpoints=[4, 8], encoding="poisson", seed=5)
    return net, res


def test_info_json_names_everything():
    p = snncore_cli("info", NET, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    net = snncore.load(NET)
    assert d == net.describe()
    assert list(d)[:5] == ["format_version", "producer", "input", "output", "readout_start"]
    assert [q["name"] for q in d["populations"]] == [q.name for q in net.populations]
    assert [q["name"] for q in d["projections"]] == [q.name for q in net.projections]
    assert d["input"]["shape"] == list(net.input_shape)
    assert d["output"]["name"] == net.output_name
    assert d["totals"]["ann_macs"] == sum(net.ann_macs().values()) == 852
    assert d["provenance"] == net.provenance
    assert "NaN" not in p.stdout and "Infinity" not in p.stdout


def test_info_text_is_unchanged():
    p = snncore_cli("info", NET)
    assert p.returncode == 0, p.stderr
    assert p.stdout == snncore.load(NET).summary() + "\n"


def test_run_json_equals_the_python_run(labels):
    path, y = labels
    p = snncore_cli("run", NET, X, "--labels", path, "--format", "json", *RUN_ARGS)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    net, res = python_run()
    energy = snncore.estimate_energy(res, net)
    assert d["checkpoints"] == [4, 8, 16]
    assert d["images"] == len(y) and d["timesteps"] == 16 and d["encoding"] == "poisson"
    assert d["accuracy"] == res.curve(y).tolist()
    assert d["spikes_per_image"]["total"] == res.spikes.total_per_image().tolist()
    assert d["synaptic_ops_per_image"]["total"] == res.synaptic_ops.total_per_image().tolist()
    assert d["spikes_per_image"]["populations"] == {
        n: v.tolist() for n, v in zip(res.spikes.names, res.spikes.at_checkpoints().T)}
    assert d["synaptic_ops_per_image"]["projections"] == {
        n: v.tolist() for n, v in zip(res.synaptic_ops.names, res.synaptic_ops.at_checkpoints().T)}
    assert list(d["spikes_per_image"]["populations"]) == [q.name for q in net.populations]
    assert d["energy"]["joules_per_image"] == energy.total.tolist()
    assert d["energy"]["ratio"] == energy.ratio.tolist()
    assert d["energy"]["ann_joules_per_image"] == energy.ann
    assert d["predictions"] == res.predictions.tolist()


def test_run_json_without_labels_has_null_accuracy():
    p = snncore_cli("run", NET, X, "--format", "json", "-T", "8")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["accuracy"] is None and d["checkpoints"] == [8]


def test_run_csv_one_row_per_checkpoint(labels):
    path, y = labels
    p = snncore_cli("run", NET, X, "--labels", path, "--format", "csv", *RUN_ARGS)
    assert p.returncode == 0, p.stderr
    rows = list(csv.reader(io.StringIO(p.stdout)))
    assert rows[0] == ["T", "accuracy", "spikes_per_image", "synaptic_ops_per_image",
                       "energy_j_per_image", "energy_ratio"]
    assert [int(r[0]) for r in rows[1:]] == [4, 8, 16]
    net, res = python_run()
    energy = snncore.estimate_energy(res, net)
    assert [float(r[1]) for r in rows[1:]] == res.curve(y).tolist()
    assert [float(r[2]) for r in rows[1:]] == res.spikes.total_per_image().tolist()
    assert [float(r[3]) for r in rows[1:]] == res.synaptic_ops.total_per_image().tolist()
    assert [float(r[4]) for r in rows[1:]] == energy.total.tolist()
    assert [float(r[5]) for r in rows[1:]] == energy.ratio.tolist()

    p = snncore_cli("run", NET, X, "--format", "csv", *RUN_ARGS)
    rows = list(csv.reader(io.StringIO(p.stdout)))
    assert "accuracy" not in rows[0] and len(rows) == 4


def test_run_table_is_the_default(labels):
    path, _ = labels
    p = snncore_cli("run", NET, X, "--labels", path, *RUN_ARGS)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["T", "accuracy", "%", "spikes/img", "synaptic", "ops/img",
                                "energy", "vs", "ANN"]
    assert [ln.split()[0] for ln in lines[2:]] == ["4", "8", "16"]


def test_bad_format_is_a_usage_error():
    p = snncore_cli("run", NET, X, "--format", "xml")
    assert p.returncode == 2
    assert "--format" in p.stderr and p.stdout == ""


@pytest.mark.parametrize("args", [("info", "missing.npz", "--json"),
                                  ("run", "missing.npz", X, "--format", "json"),
                                  ("run", NET, "missing.npy", "--format", "csv")])
def test_a_missing_file_fails_in_one_line(args, tmp_path):
    args = [os.path.join(str(tmp_path), a) if a.startswith("missing") else a for a in args]
    p = snncore_cli(*args)
    assert p.returncode == 1
    assert p.stdout == ""
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("snncore: error: ")
    assert "missing" in p.stderr
