"""`snncore plot`, `snncore report`, `snncore bench` and `run --compare-ann`,
driven as a user drives them (`python -m snncore` on real files), and the
Python API under them (snncore.analysis, snncore.plots, snncore.report)."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from clitools import make_workdir, one_line_error, snncore_all, snncore_here, usage_error

import snncore
from snncore import analysis

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

MODEL = ("--ann", "tinynet:make", "--weights", "net.pt")
DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """tinynet's files (clitools.make_workdir), its conversion net.npz, and
    the model itself."""
    from snncore.convert import from_torch

    d = tmp_path_factory.mktemp("plots")
    model = make_workdir(torch, d)
    x = np.load(d / "x.npy")
    from_torch(model, x, progress=False).save(d / "net.npz")
    np.save(d / "x_small.npy", np.load(d / "x_test.npy")[:60])
    np.save(d / "y_small.npy", np.load(d / "y_test.npy")[:60])
    return d, model


# -- the Python API ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["conv_pool_dense", "signed_zero", "maxpool_upsample",
                                  "junction"])
def test_per_neuron_counts_add_up_to_the_engines_population_counts(name):
    """The network cut at a population gives each neuron's count; their
    absolute values add up to what the whole network's run counts."""
    net = snncore.load(os.path.join(DATA, name + ".npz"))
    x = np.load(os.path.join(DATA, name + ".x.npy"))
    res = net.run(x, 12, checkpoints=[3, 7], encoding="poisson", seed=2)
    names = analysis.rate_populations(net)
    assert names
    for pop in names:
        counts = analysis.population_counts(net, x, pop, 12, checkpoints=[3, 7],
                                             encoding="poisson", seed=2)
        shape = dict((p.name, p.shape) for p in net.populations)[pop]
        assert counts.shape == (len(x), 3) + shape
        total = np.abs(counts).reshape(len(x), 3, -1).sum(axis=2)
        # a signed neuron's +1 and -1 spikes within a window cancel in its net count
        signed = net.describe()["populations"][[p.name for p in net.populations].index(pop)]
        if signed.get("signed"):
            assert (total <= res.spikes.raw[:, :, res.spikes.names.index(pop)]).all()
        else:
            np.testing.assert_array_equal(total, res.spikes.raw[:, :, res.spikes.names.index(pop)])


def test_spike_trains_are_the_steps_of_the_counts():
    net = snncore.load(os.path.join(DATA, "conv_pool_dense.npz"))
    x = np.load(os.path.join(DATA, "conv_pool_dense.x.npy"))
    pop = analysis.rate_populations(net)[0]
    trains = analysis.spike_trains(net, x[1], [pop], 10)
    assert trains[pop].dtype == np.int8 and trains[pop].shape[0] == 10
    counts = analysis.population_counts(net, x[1:2], pop, 10, checkpoints=range(1, 11))
    np.testing.assert_array_equal(np.cumsum(trains[pop], axis=0), counts[0].reshape(10, -1))
    with pytest.raises(ValueError, match="relay|kind"):
        relay = [p.name for p in net.populations if p.kind == "relay"][0]
        analysis.spike_trains(net, x[0], [relay], 4)
    with pytest.raises(ValueError, match="no population 'nope'"):
        analysis.spike_trains(net, x[0], ["nope"], 4)


def test_layer_correlation_follows_the_ann_and_its_figure_has_the_axes(work):
    from snncore import plots

    d, model = work
    net = snncore.load(d / "net.npz")
    x = np.load(d / "x_small.npy")[:40]
    layers = analysis.layer_correlation(model, net, x, 128)
    assert [c.population for c in layers] == analysis.rate_populations(net) + ["output"]
    for c in layers:
        assert c.ann.shape == c.snn.shape and c.ann.dtype == np.float32
        assert 0.85 < c.slope < 1.1 and c.r > 0.97, c
    # few timesteps: the SNN transmits too little, the slope drops
    short = analysis.layer_correlation(model, net, x, 4)
    assert short[-1].slope < layers[-1].slope
    fig = plots.correlation_figure(layers)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == len(layers)
    for ax, c in zip(shown, layers):
        if c.kind == "if":
            assert (ax.get_xlabel(), ax.get_ylabel()) == ("ANN activation",
                                                          "SNN rate x threshold")
        else:
            assert c.population == "output"
            assert (ax.get_xlabel(), ax.get_ylabel()) == ("ANN output",
                                                          "SNN output (decoded at T)")
        assert c.population in ax.get_title() and "slope" in ax.get_title()


def test_parts_of_an_activation_are_paired_with_their_channels():
    """A ReLU over a concatenation becomes one population per part; each is
    paired with its channels of the ANN's activation (provenance "channel_parts")."""
    from snncore.convert import from_torch

    class Cat(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(2, 3, 3, padding=1)
            self.b = torch.nn.Conv2d(2, 5, 3, padding=1)
            self.fc = torch.nn.Linear(8 * 16, 4)

        def forward(self, x):
            return self.fc(torch.relu(torch.cat([self.a(x), self.b(x)], 1)).flatten(1))

    torch.manual_seed(0)
    model = Cat().eval()
    x = torch.rand(64, 2, 4, 4)
    net = from_torch(model, x)
    assert net.provenance["channel_parts"] == {
        "relu.part0": {"of": "relu", "channels": [0, 1, 2]},
        "relu.part1": {"of": "relu", "channels": [3, 4, 5, 6, 7]}}
    layers = analysis.layer_correlation(model, net, x[:16].numpy(), 128)
    assert [c.population for c in layers] == ["relu.part0", "relu.part1", "output"]
    assert [c.ann.size for c in layers[:2]] == [16 * 3 * 16, 16 * 5 * 16]
    assert all(c.r > 0.97 for c in layers), layers


def test_figures_have_their_axes():
    from snncore import plots

    net = snncore.load(os.path.join(DATA, "conv_pool_dense.npz"))
    x = np.load(os.path.join(DATA, "conv_pool_dense.x.npy"))
    res = net.run(x, 16, checkpoints=[2, 4, 8])
    y = res.predictions
    fig = plots.accuracy_figure([("a", res.checkpoints, res.curve(y)),
                                 ("b", res.checkpoints, res.curve(y[::-1]))], ann=0.5)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("timesteps T", "accuracy (%)")
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["a", "b"]
    assert len(ax.get_lines()) == 3          # two runs and the ANN's line
    pops = analysis.rate_populations(net)
    fig = plots.raster_figure(analysis.spike_trains(net, x[0], pops, 16))
    assert len(fig.axes) == len(pops)
    assert fig.axes[-1].get_xlabel() == "timestep" and fig.axes[0].get_ylabel() == "neuron"
    fig = plots.rates_figure(analysis.firing_rates(net, x, 16))
    assert [a.get_xlabel() for a in fig.axes] == ["population"] * 2
    assert "firing rate" in fig.axes[0].get_ylabel()
    with pytest.raises(ValueError, match=".png or .svg"):
        plots.save(fig, "rates.jpg")
    # a channel is dead when no neuron of it fires, saturated when one fires every step
    dead, saturated = plots.channel_health(np.array([[0.0, 0.0], [0.3, 1.0], [0.2, 0.98]]))
    assert dead.tolist() == [True, False, False]
    assert saturated.tolist() == [False, True, False]


def test_choose_timesteps_takes_the_first_within_a_point():
    from snncore.report import choose_timesteps

    assert choose_timesteps([1, 2, 4, 8], [0.1, 0.5, 0.905, 0.91]) == 4
    assert choose_timesteps([1, 2, 4, 8], [0.1, 0.5, 0.8, 0.91]) == 8


# -- the command line -------------------------------------------------------------------------

def _decodes(path):
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    return img


def test_plot_commands_write_pictures(work):
    d, _ = work
    # the correlation from a subprocess (a fresh interpreter loads the model), the
    # rest in this process (docs/tutorial.md, which tests/test_tutorial.py runs, drives
    # run, report and plot from the shell too)
    corr, = snncore_all(d, ["plot", "correlation", "net.npz", "x_small.npy", *MODEL, "-T",
                            "32", "-o", "corr.png"])
    rates = snncore_here(d, "plot", "rates", "net.npz", "--dataset", "digits", "--limit", "30",
                         "-T", "16", "-o", "rates.png", "--quiet")
    run_json = snncore_here(d, "run", "net.npz", "x_small.npy", "--labels", "y_small.npy",
                            "-T", "16", "--checkpoints", "2,4,8", "--format", "json")
    acc = snncore_here(d, "plot", "accuracy", "net.npz", "--images", "x_small.npy", "--labels",
                       "y_small.npy", "-T", "16", "-o", "acc.png")
    raster = snncore_here(d, "plot", "raster", "net.npz", "x_small.npy", "--image", "3", "-T",
                          "20", "-o", "raster.svg")
    for r in (run_json, acc, raster, rates, corr):
        assert r.returncode == 0, r.stderr
    assert rates.stderr == "" and "wrote raster.svg" in raster.stderr
    for name in ("acc.png", "rates.png", "corr.png"):
        _decodes(d / name)
    assert (d / "raster.svg").read_text().lstrip().startswith("<?xml")
    # several runs on one axis: a JSON report beside a network run here
    (d / "run.json").write_text(run_json.stdout)
    r = snncore_here(d, "plot", "accuracy", "run.json", "net.npz", "--images", "x_small.npy",
                     "--labels", "y_small.npy", "-T", "8", "--names", "json,npz", "-o",
                     "both.png")
    assert r.returncode == 0, r.stderr
    _decodes(d / "both.png")


def test_plot_and_report_refuse_bad_input(work):
    d, _ = work
    np.save(d / "empty.npy", np.zeros((0, 1, 8, 8), np.float32))
    (d / "bad.json").write_text("{not json")
    results = [snncore_here(d, *args) for args in (
        ["plot", "histogram", "net.npz", "-o", "h.png"],                         # no such WHAT
        ["plot", "raster", "net.npz", "x_small.npy", "-o", "r.jpg"],             # extension
        ["plot", "correlation", "net.npz", "x_small.npy", "-o", "c.png"],        # no --ann
        ["report", "net.npz", "x_small.npy", "-o", "r.pdf"],
        ["plot", "accuracy", "net.npz", "-o", "a.png"],                          # no images
        ["plot", "rates", "missing.npz", "x_small.npy", "-o", "m.png"],
        ["plot", "rates", "net.npz", "empty.npy", "-o", "e.png"],
        ["plot", "raster", "net.npz", "x_small.npy", "--populations", "nope", "-o", "n.png"],
        ["plot", "correlation", "net.npz", "x_small.npy", "--ann", "whole.pt", "-o", "w.png"],
        ["plot", "accuracy", "bad.json", "-o", "b.png"],
        ["report", "net.npz", "missing.npy", "-o", "r.html"],
        ["run", "net.npz", "x_small.npy", "--compare-ann", "tinynet:nothing"])]
    for r in results[:5]:
        usage_error(r)
    missing, empty, nope, pickled, bad_json, missing_images, no_factory = \
        map(one_line_error, results[5:])
    assert "missing.npz" in missing
    assert "empty" in empty
    assert "no population 'nope'" in nope
    assert "--trust-pickle" in pickled and "arbitrary code" in pickled
    assert "bad.json is not JSON" in bad_json
    assert "missing.npy: no such file" in missing_images
    assert "no callable 'nothing'" in no_factory
    for name in ("h.png", "r.jpg", "c.png", "m.png", "e.png", "n.png", "w.png", "b.png",
                 "r.html"):
        assert not (d / name).exists()


def test_run_compares_with_the_ann(work):
    d, model = work
    table = snncore_here(d, "run", "net.npz", "x_small.npy", "--labels", "y_small.npy", "-T",
                         "32", "--checkpoints", "4,16", "--compare-ann", "tinynet:make",
                         "--weights", "net.pt")
    as_json = snncore_here(d, "run", "net.npz", "x_small.npy", "-T", "32", "--checkpoints",
                           "4,16", "--format", "json", "--compare-ann", "tinynet:make",
                           "--weights", "net.pt")
    as_csv = snncore_here(d, "run", "net.npz", "x_small.npy", "--labels", "y_small.npy", "-T",
                          "32", "--format", "csv", "--compare-ann", "whole.pt",
                          "--trust-pickle")
    for r in (table, as_json, as_csv):
        assert r.returncode == 0, r.stderr
    header = table.stdout.splitlines()[0]
    assert "ANN %" in header and "agrees with ANN %" in header
    x, y = np.load(d / "x_small.npy"), np.load(d / "y_small.npy")
    with torch.no_grad():
        ann = model(torch.from_numpy(x.astype(np.float32))).argmax(1).numpy()
    row = table.stdout.splitlines()[-1].split()
    assert float(row[2]) == pytest.approx(100 * (ann == y).mean(), abs=0.01)
    report = json.loads(as_json.stdout)
    assert report["ann"]["accuracy"] is None and len(report["ann"]["agreement"]) == 3
    agree = (np.array(report["predictions"]) == ann).mean()
    assert report["ann"]["agreement"][-1] == pytest.approx(agree)
    lines = as_csv.stdout.splitlines()
    assert lines[0].startswith("T,accuracy,ann_accuracy,agreement_with_ann,")


def test_bench_reports_rates_with_intervals(work):
    d, _ = work
    as_json, = snncore_all(d, ["bench", "net.npz", "x_small.npy", "--limit", "16", "-T", "8",
                               "--repeats", "3", "--format", "json", "-q"])
    table = snncore_here(d, "bench", "--limit", "8", "-T", "4", "--repeats", "3", "--threads",
                         "2")
    assert table.returncode == 0, table.stderr
    assert "images/s" in table.stdout and "speed-up of 2 threads over 1" in table.stdout
    assert as_json.returncode == 0 and as_json.stderr == "", as_json.stderr
    out = json.loads(as_json.stdout)
    for label in ("one_thread", "all_threads"):
        v = out[label]["images_per_s"]
        assert 0 < v["low"] <= v["value"] <= v["high"]
        assert len(out[label]["seconds"]) == 3
    assert out["speedup"]["low"] <= out["speedup"]["value"] <= out["speedup"]["high"]


# -- the report in a real browser -------------------------------------------------------------

# Put at the top of a copy of the report: it records script errors and console
# errors, and once the page has loaded, each image's natural width (0 for one
# that failed to load), in an attribute that --dump-dom shows.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message || e.type)), true);
const __consoleError = console.error;
console.error = (...a) => { window.__errors.push(a.join(' ')); __consoleError(...a); };
window.addEventListener('load', () => {
  const widths = Array.from(document.images, i => i.complete ? i.naturalWidth : -1);
  document.documentElement.setAttribute('data-probe',
      JSON.stringify({widths: widths, errors: window.__errors}));
});
</script>"""


def _chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (Debian: apt-get install chromium; ./dev does)")


def _browse(chromium, page, tmp_path):
    """(image widths, errors) of `page` (an HTML string) in headless chromium."""
    path = tmp_path / "probe.html"
    path.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    r = subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox",
                        "--user-data-dir=" + str(tmp_path / "profile"),
                        "--virtual-time-budget=5000", "--dump-dom", path.as_uri()],
                       capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', r.stdout)
    assert found, (r.returncode, r.stderr[-2000:])
    probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return probe["widths"], probe["errors"]


def test_report_renders_in_a_browser_with_every_image(work, tmp_path):
    chromium = _chromium()
    d, _ = work
    r = snncore_here(d, "report", "net.npz", "x_small.npy", "--labels", "y_small.npy", *MODEL,
                     "-T", "32", "--detail-images", "30", "-o", "report.html")
    assert r.returncode == 0, r.stderr
    page = (d / "report.html").read_text(encoding="utf-8")
    for heading in ("At a glance", "Accuracy against timesteps", "Where the SNN departs",
                    "Firing rates", "Spikes of one image", "Energy against the ANN",
                    "The network"):
        assert heading in page
    assert "<script" not in page and "src=\"http" not in page     # self-contained
    widths, errors = _browse(chromium, page, tmp_path)
    assert errors == []
    assert len(widths) == 5 and all(w > 100 for w in widths), widths
    # the probe sees a broken picture and a script error
    broken = page.replace("data:image/png;base64,iVBOR", "data:image/png;base64,XXXX", 1)
    broken = broken.replace("</body>", "<script>undefinedFunction()</script></body>")
    widths, errors = _browse(chromium, broken, tmp_path)
    assert widths.count(0) == 1, widths
    assert any("undefinedFunction" in e for e in errors), errors


def test_progress_bars_show_on_a_terminal_only(tmp_path):
    """A long run draws a bar on a terminal (a pseudo-terminal here), nothing
    into a pipe or a file; --quiet turns bars off everywhere."""
    import pty
    import select

    from snncore._progress import Progress
    from snncore.cli._common import progress_flag

    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty, open(tmp_path / "log", "w") as log:
        long_work = 1e12
        assert not Progress(10, work=1.0, stream=tty).enabled        # short work: no bar
        assert not Progress(10, work=long_work, stream=log).enabled
        bar = Progress(3, work=long_work, stream=tty, unit="layers", label="bias calibration:")
        assert bar.enabled
        for done in (1, 2, 3):
            bar.update(done)
        bar.close()
    drawn = b""
    while select.select([leader], [], [], 0.5)[0]:
        try:
            chunk = os.read(leader, 4096)
        except OSError:         # the terminal's other end is closed: all was read
            break
        if not chunk:
            break
        drawn += chunk
    drawn = drawn.decode()
    os.close(leader)
    assert "bias calibration:" in drawn and "3/3 layers" in drawn and "3 layers in" in drawn
    assert progress_flag(type("A", (), {"quiet": True})()) is False
    assert progress_flag(type("A", (), {"quiet": False})()) is None
