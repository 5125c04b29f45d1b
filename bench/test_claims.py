"""The papers' central claims (CLAIMS below; docs/methods.md), checked on our data.

    pytest bench/test_claims.py --benchmark-only --benchmark-json=bench/results/claims.json

Each benchmark converts and runs the settings a claim compares (sharing every
conversion and run with the quality and energy benchmarks through the
session's evaluator), and records in extra_info (kind="claim"): claim (a
short name), paper, statement (the claim as CLAIMS states it), setup,
checkpoints, rows (one per model and setting: model, setting, encoding, reset,
ann_accuracy, accuracy at each checkpoint, t_within_1, t_within_0_1, images), and a
verdict: one sentence computed from the numbers, starting with "agrees",
"disagrees", "mixed" or "inconclusive". The comparisons use the timesteps
needed to come within 1 point of the ANN (the first checkpoint, T = 1, 2, 4,
..., 512, at which the SNN's accuracy is at most 1 point below the ANN's on
the same images). Nothing is asserted about who wins: the verdict is the
finding. The smoke run (--benchmark-disable) checks each claim on its first
model only.
"""

from evaluation import bench_scale_of, powers_of_two, record, skip_if_missing

# claim name -> (paper, statement, the models it is checked on)
CLAIMS = {
    "diehl_data_vs_model": (
        "Diehl et al. 2015",
        "data-based normalisation reaches the ANN's accuracy in fewer timesteps than "
        "model-based normalisation (reset to zero, Poisson input, as in the paper)",
        ("fashion_cnn", "tailored_cnn")),
    "rueckauer_percentile_vs_max": (
        "Rueckauer et al. 2017",
        "robust normalisation (99.9th percentile) reaches the ANN's accuracy in fewer "
        "timesteps than max-normalisation (reset by subtraction, analog input)",
        ("fashion_cnn", "vgg")),
    "rueckauer_subtract_vs_zero": (
        "Rueckauer et al. 2017",
        "reset by subtraction converges faster and ends more accurate than reset to zero "
        "(percentile normalisation, analog input)",
        ("fashion_cnn", "vgg")),
    "kim_channel_vs_layer": (
        "Kim et al. 2020 (Spiking-YOLO)",
        "channel-wise normalisation converges 2.3-4x faster than layer-wise normalisation "
        "(99.9th percentiles, reset by subtraction, analog input)",
        ("fashion_cnn", "leaky_cnn")),
    "sengupta_spike_norm_deep": (
        "Sengupta et al. 2019",
        "Spike-Norm converts deep nets (VGG, residual) with little accuracy loss given "
        "enough timesteps (Poisson input); compared here with percentile normalisation",
        ("vgg", "resnet_small")),
    "cao_tailoring": (
        "Cao et al. 2015",
        "a CNN tailored for spiking (no bias, ReLU, average pooling) loses little against "
        "the original CNN, and its SNN (Poisson input, spike-count read-out) reaches the "
        "tailored CNN's accuracy",
        ("tailored_cnn", "maxpool_cnn")),
}


def pytest_generate_tests(metafunc):
    if "claim_models" in metafunc.fixturenames:
        name = metafunc.function.__name__[len("test_"):]
        models = CLAIMS[name][2]
        if bench_scale_of(metafunc.config).smoke:
            models = models[:1]
        metafunc.parametrize("claim_models", [models], ids=["-".join(models)])


# -- rows and verdicts ------------------------------------------------------------

def row(curve, setting):
    """A claim table row from a Curve (accuracy at powers of two)."""
    info = curve.info()
    return {"model": curve.model, "setting": setting, "encoding": curve.encoding,
            "reset": curve.options.get("reset", "subtract"),
            "ann_accuracy": info["ann_accuracy"], "accuracy": info["accuracy"],
            "t_within_1": info["t_within_1"], "t_within_0_1": info["t_within_0_1"],
            "images": curve.images}


def pct(fraction):
    return f"{100 * fraction:.2f}%"


def reach(name, t, T):
    """'<name> at T=t', or '<name> not by T=<T>' when t is None."""
    return f"{name} at T={t}" if t is not None else f"{name} not by T={T}"


def faster(a, b, name_a, name_b):
    """(status, clause) comparing how soon curves a (the claimed winner) and b
    come within 1 point of the ANN. status: 'agrees', 'tie', 'disagrees' or
    'inconclusive'."""
    ta, tb, T = a.t_within(1.0), b.t_within(1.0), a.checkpoints[-1]
    where = f"on {a.model}"
    if ta is None and tb is None:
        return "inconclusive", (f"{where} neither comes within 1 point of the ANN "
                                f"({pct(a.ann_accuracy)}) by T={T}: {name_a} "
                                f"{pct(a.accuracy[-1])}, {name_b} {pct(b.accuracy[-1])}")
    if ta == tb:
        return "tie", f"{where} both come within 1 point of the ANN at T={ta}"
    status = "agrees" if tb is None or (ta is not None and ta < tb) else "disagrees"
    return status, (f"{where}, within 1 point of the ANN: {reach(name_a, ta, T)}, "
                    f"{reach(name_b, tb, T)}")


def combine(results):
    """One verdict sentence from (status, clause) pairs, one per model."""
    statuses = {s for s, _ in results}
    if statuses == {"agrees"}:
        head = "agrees"
    elif statuses == {"disagrees"}:
        head = "disagrees"
    elif statuses == {"inconclusive"}:
        head = "inconclusive"
    elif statuses <= {"tie", "inconclusive"}:
        head = "inconclusive (no difference)"
    else:
        head = "mixed"
    return f"{head}: " + "; ".join(c for _, c in results) + "."


def publish(benchmark, evaluator, claim, setup, rows, verdict):
    paper, statement, _ = CLAIMS[claim]
    T = evaluator.scale.max_timesteps
    benchmark.extra_info.update(kind="claim", claim=claim, paper=paper, statement=statement,
                                setup=setup, checkpoints=powers_of_two(T), rows=rows,
                                verdict=verdict, scale=evaluator.scale.name)
    assert verdict.split(":")[0] in ("agrees", "disagrees", "mixed", "inconclusive",
                                     "inconclusive (no difference)")


def compare(evaluator, models, settings, encoding):
    """Curves of `settings` (label -> from_torch options) on each model:
    {model: {label: Curve}} at the scale's maximum T."""
    return {m: {label: evaluator.curve(m, evaluator.options(**options), encoding)
                for label, options in settings.items()} for m in models}


# -- the claims ----------------------------------------------------------------------

def test_diehl_data_vs_model(benchmark, evaluator, claim_models):
    settings = {"data-based (max)": dict(norm="max", reset="zero"),
                "model-based": dict(norm="model", reset="zero"),
                "none": dict(norm="none", reset="zero")}
    with skip_if_missing():
        curves = record(benchmark, lambda: compare(evaluator, claim_models, settings,
                                                   "poisson"))
    verdict = combine([faster(c["data-based (max)"], c["model-based"], "data-based (max)",
                              "model-based") for c in curves.values()])
    publish(benchmark, evaluator, "diehl_data_vs_model", "reset to zero, Poisson input",
            [row(c, label) for per in curves.values() for label, c in per.items()], verdict)


def test_rueckauer_percentile_vs_max(benchmark, evaluator, claim_models):
    settings = {"percentile 99.9": dict(norm="percentile"), "max": dict(norm="max")}
    with skip_if_missing():
        curves = record(benchmark, lambda: compare(evaluator, claim_models, settings,
                                                   "analog"))
    verdict = combine([faster(c["percentile 99.9"], c["max"], "the 99.9th percentile", "max")
                       for c in curves.values()])
    publish(benchmark, evaluator, "rueckauer_percentile_vs_max",
            "reset by subtraction, analog input",
            [row(c, label) for per in curves.values() for label, c in per.items()], verdict)


def test_rueckauer_subtract_vs_zero(benchmark, evaluator, claim_models):
    settings = {"subtract": dict(norm="percentile", reset="subtract"),
                "zero": dict(norm="percentile", reset="zero")}
    with skip_if_missing():
        curves = record(benchmark, lambda: compare(evaluator, claim_models, settings,
                                                   "analog"))
    results = []
    for c in curves.values():
        status, clause = faster(c["subtract"], c["zero"], "reset by subtraction",
                                "reset to zero")
        sub, zero = c["subtract"].accuracy[-1], c["zero"].accuracy[-1]
        if status == "tie":     # then the final accuracy decides
            status = "agrees" if sub > zero else "disagrees" if sub < zero else "tie"
        results.append((status, f"{clause}, and ends at {pct(sub)} vs {pct(zero)} at "
                                f"T={c['subtract'].checkpoints[-1]}"))
    publish(benchmark, evaluator, "rueckauer_subtract_vs_zero",
            "percentile normalisation, analog input",
            [row(c, label) for per in curves.values() for label, c in per.items()],
            combine(results))


def test_kim_channel_vs_layer(benchmark, evaluator, claim_models):
    settings = {"channel-wise": dict(norm="channel"), "layer-wise": dict(norm="percentile")}
    with skip_if_missing():
        curves = record(benchmark, lambda: compare(evaluator, claim_models, settings,
                                                   "analog"))
    results = []
    for c in curves.values():
        status, clause = faster(c["channel-wise"], c["layer-wise"], "channel-wise",
                                "layer-wise")
        tc, tl = c["channel-wise"].t_within(1.0), c["layer-wise"].t_within(1.0)
        if tc and tl:
            clause += f" ({tl / tc:.1f}x; the paper: 2.3-4x)"
        results.append((status, clause))
    publish(benchmark, evaluator, "kim_channel_vs_layer",
            "99.9th percentiles, reset by subtraction, analog input",
            [row(c, label) for per in curves.values() for label, c in per.items()],
            combine(results))


def test_sengupta_spike_norm_deep(benchmark, evaluator, claim_models):
    settings = {"Spike-Norm": dict(norm="spike"), "percentile 99.9": dict(norm="percentile")}
    with skip_if_missing():
        curves = record(benchmark, lambda: compare(evaluator, claim_models, settings,
                                                   "poisson"))
    results = []
    for c in curves.values():
        spike, perc = c["Spike-Norm"], c["percentile 99.9"]
        t, T = spike.t_within(1.0), spike.checkpoints[-1]
        status = "agrees" if t is not None else "disagrees"
        results.append((status, f"on {spike.model}, within 1 point of the ANN "
                                f"({pct(spike.ann_accuracy)}): {reach('Spike-Norm', t, T)} "
                                f"({pct(spike.accuracy[-1])} at T={T}), "
                                f"{reach('the percentile', perc.t_within(1.0), T)} "
                                f"({pct(perc.accuracy[-1])})"))
    publish(benchmark, evaluator, "sengupta_spike_norm_deep",
            "Poisson input, reset by subtraction; BatchNorm folded into biases",
            [row(c, label) for per in curves.values() for label, c in per.items()],
            combine(results))


CAO_OPTIONS = dict(norm="percentile", readout="spikes")


def cao_curves(evaluator, models):
    """{model: Curve} of the Cao setting (percentile thresholds, spiking output
    read by spike counts, Poisson input); max pooling becomes average pooling."""
    out = {}
    for m in models:
        options = dict(CAO_OPTIONS, maxpool="avg") if m == "maxpool_cnn" else CAO_OPTIONS
        out[m] = evaluator.curve(m, evaluator.options(**options), "poisson")
    return out


def test_cao_tailoring(benchmark, evaluator, claim_models):
    with skip_if_missing():
        curves = record(benchmark, lambda: cao_curves(evaluator, claim_models))
        original = evaluator.ann_accuracy("maxpool_cnn")
        swapped = evaluator.ann_accuracy("maxpool_cnn", avg_pool=True)
    rows = [row(c, "tailored (no bias, avg pool)" if m == "tailored_cnn"
                else "max pool replaced by avg pool") for m, c in curves.items()]
    rows.append({"model": "maxpool_cnn", "setting": "ANN, max pool (the original CNN)",
                 "ann_accuracy": original, "accuracy": [], "t_within_1": None,
                 "t_within_0_1": None})
    rows.append({"model": "maxpool_cnn", "setting": "ANN, max pool swapped for avg pool",
                 "ann_accuracy": swapped, "accuracy": [], "t_within_1": None,
                 "t_within_0_1": None})
    tailored = curves["tailored_cnn"]
    publish(benchmark, evaluator, "cao_tailoring",
            "percentile thresholds, Poisson input, spike-count read-out, reset by subtraction",
            rows, cao_verdict(tailored, original, curves.get("maxpool_cnn"), swapped))


def cao_verdict(tailored, original, maxpool, swapped):
    """Agrees when the tailored ANN is within 1 point of the original CNN and
    its SNN comes within 1 point of the tailored ANN."""
    T = tailored.checkpoints[-1]
    loss = original - tailored.ann_accuracy
    t = tailored.t_within(1.0)
    head = "agrees" if loss <= 0.01 and t is not None else "disagrees"
    text = (f"{head}: the tailored CNN is {100 * loss:.2f} points below the max-pool original "
            f"({pct(tailored.ann_accuracy)} vs {pct(original)}); within 1 point of it: "
            f"{reach('its SNN', t, T)} ({pct(tailored.accuracy[-1])} at T={T})")
    if maxpool is not None:
        text += (f"; the max-pool original converted with average pooling reaches "
                 f"{pct(maxpool.accuracy[-1])} at T={T} (that swap alone, without "
                 f"retraining, takes its ANN to {pct(swapped)})")
    return text + "."
