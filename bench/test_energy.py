"""Estimated energy per image of the converted networks at their best
settings, against their ANNs (snncore.estimate_energy: 0.9 pJ per accumulate,
4.6 pJ per multiply-accumulate, the analog first layer's multiply-accumulates
counted at every step), and SpikingJelly's synaptic operations on the same
Fashion-MNIST CNN.

    pytest bench/test_energy.py --benchmark-only --benchmark-json=bench/results/energy.json

For each of the four main models, the best low-latency setting of
evaluation.LOW_LATENCY (the first to come within 1 point of the ANN; ties:
the cheaper there) is reported, and fashion_cnn's default conversion
(Rueckauer's percentile, reset by subtraction, T up to 512) beside it. Each
benchmark's extra_info (kind="energy") holds: simulator, model, setting,
options, encoding, e_ac, e_mac, ann_macs (per projection) and
ann_macs_per_image, ann_energy_j, checkpoints (every step to 64, then powers of
two), accuracy, energy_per_image_j, energy_ratio, spikes_per_image and
synaptic_ops_per_image at each; t_within_1 and, at that step (or at the last
one if never: at_t), energy_ratio_at, energy_per_image_j_at and per_projection
(kind, operations, joules, ANN MACs per projection); break_even_t (the first
step at which the SNN has spent the ANN's energy, None if it never does),
break_even_exact (every step recorded up to it) and accuracy_at_break_even.

SpikingJelly's counts (bench/peers.py SpikingJellyCounter) count, as
bench/README.md says,
each spike times the synapses it drives, pooling kept linear, so they are not
the same count as snncore's, which goes through relay events; its first
convolution runs on the analog image every step and is counted as
multiply-accumulates. Skips when SpikingJelly is not installed.
"""

import numpy as np
import pytest

from evaluation import (LOW_LATENCY_T, MAIN_MODELS, low_latency_cases, record,
                        recorded_checkpoints, skip_if_missing, steps_to_within)


def best_low_latency(evaluator, model):
    """(setting, Curve): the low-latency row of `model` that first comes within
    1 point of the ANN; ties (and rows that never do) go to the lower energy
    at the step compared."""
    settings = [s for m, s in low_latency_cases(evaluator.scale) if m == model]
    never = 10 ** 9

    def rank(setting):
        c = evaluator.low_latency_curve(model, setting)
        t = c.t_within(1.0)
        i = c.at(t) if t is not None else len(c.checkpoints) - 1
        return (never if t is None else t, float(c.energy.ratio[i]))

    best = min(settings, key=rank)
    return best, evaluator.low_latency_curve(model, best)


def energy_info(curve):
    """extra_info fields of a snncore curve's energy (see the module docstring)."""
    e = curve.energy
    t = curve.t_within(1.0)
    i = curve.at(t) if t is not None else len(curve.checkpoints) - 1
    even = e.break_even()
    info = {"simulator": "snncore", "e_ac": e.e_ac, "e_mac": e.e_mac,
            "ann_macs": {k: int(v) for k, v in e.ann_macs.items()},
            "ann_macs_per_image": int(sum(e.ann_macs.values())), "ann_energy_j": e.ann,
            "checkpoints": list(curve.checkpoints),
            "accuracy": [float(a) for a in curve.accuracy],
            "energy_per_image_j": [float(v) for v in e.total],
            "energy_ratio": [float(v) for v in e.ratio],
            "spikes_per_image": [float(v) for v in curve.spikes],
            "synaptic_ops_per_image": [float(v) for v in curve.synaptic_ops],
            "t_within_1": t, "at_t": int(curve.checkpoints[i]),
            "energy_ratio_at": float(e.ratio[i]), "energy_per_image_j_at": float(e.total[i]),
            "per_projection": {n: {"kind": k, "operations": float(e.operations[i, j]),
                                   "joules": float(e.per_projection[i, j]),
                                   "ann_macs": int(e.ann_macs[n])}
                               for j, (n, k) in enumerate(zip(e.projections, e.kinds))},
            "break_even_t": even, "break_even_exact": _exact(curve.checkpoints, even),
            "accuracy_at_break_even": None if even is None
            else float(curve.accuracy[curve.at(even)])}
    return info


def _exact(checkpoints, t):
    """Whether step t and the step before it were both recorded (so t is the exact crossing)."""
    return t is not None and (t == 1 or (t - 1) in checkpoints)


def _common(curve, setting, scale):
    return {"kind": "energy", "model": curve.model, "setting": setting,
            "options": curve.options, "encoding": curve.encoding,
            "ann_accuracy": float(curve.ann_accuracy), "images": curve.images,
            "calibration": curve.calibration, "scale": scale.name}


def check_energy(info):
    e = np.array(info["energy_per_image_j"])
    assert np.all(np.diff(e) >= 0), "energy is cumulative"
    assert info["ann_energy_j"] > 0 and e[-1] > 0
    ops = info["per_projection"]
    assert abs(sum(p["joules"] for p in ops.values()) - info["energy_per_image_j_at"]) \
        <= 1e-9 * info["energy_per_image_j_at"]


@pytest.mark.parametrize("model", MAIN_MODELS)
def test_energy_best_setting(benchmark, evaluator, model):
    benchmark.group = "energy"
    with skip_if_missing():
        setting, curve = record(benchmark, lambda: best_low_latency(evaluator, model))
    info = dict(_common(curve, setting, evaluator.scale), **energy_info(curve))
    benchmark.extra_info.update(info)
    check_energy(info)


def test_energy_default_conversion(benchmark, evaluator):
    """fashion_cnn with from_torch's defaults (percentile, subtract), analog, T up to 512."""
    benchmark.group = "energy"
    with skip_if_missing():
        curve = record(benchmark, lambda: evaluator.curve(
            "fashion_cnn", evaluator.options(norm="percentile", reset="subtract"), "analog"))
    info = dict(_common(curve, "percentile", evaluator.scale), **energy_info(curve))
    benchmark.extra_info.update(info)
    check_energy(info)


SPIKINGJELLY_RECIPES = {
    "spikingjelly-best": dict(mode="99.9%", channel_wise=True, half_threshold=True),
    "spikingjelly-default": dict(mode="max"),
}


@pytest.mark.parametrize("recipe", list(SPIKINGJELLY_RECIPES))
def test_energy_spikingjelly(benchmark, evaluator, recipe):
    """SpikingJelly 2.0's conversion of fashion_cnn, same images, T up to 128."""
    benchmark.group = "energy"
    with skip_if_missing():
        import peers

        model = evaluator.model("fashion_cnn")
        data = evaluator.data("fashion_cnn")
        reference = evaluator.low_latency_curve("fashion_cnn", "percentile")
    timesteps = evaluator.scale.timesteps(LOW_LATENCY_T)
    try:
        info = record(benchmark, lambda: spikingjelly_energy(
            peers, model, data, timesteps, reference.energy, reference.ann_accuracy,
            SPIKINGJELLY_RECIPES[recipe]))
    except peers.PeerMissing as e:
        pytest.skip(str(e))
    info.update(kind="energy", simulator=recipe, model="fashion_cnn", setting=recipe,
                options=SPIKINGJELLY_RECIPES[recipe], encoding="analog",
                ann_accuracy=float(reference.ann_accuracy), images=len(data.x_test),
                calibration=len(data.x_calib), scale=evaluator.scale.name)
    benchmark.extra_info.update(info)
    assert np.all(np.diff(info["energy_per_image_j"]) >= 0)


def spikingjelly_energy(peers, model, data, timesteps, reference, ann, recipe):
    """Convert and run with SpikingJelly, count its synaptic operations, and
    estimate its energy as snncore's: the accumulates of its spikes, plus the
    multiply-accumulates of the layers fed by the analog input every step
    (the `reference` EnergyEstimate's 'mac' projections), at e_ac and e_mac.
    `ann` is the ANN's accuracy (fraction) on the same images."""
    snn = peers.spikingjelly_convert(model, data.x_calib, **recipe)
    counter = peers.SpikingJellyCounter(snn, model, data.x_test.shape[1:])
    try:
        res = peers.spikingjelly_run(snn, data.x_test, timesteps,
                                     checkpoints=recorded_checkpoints(timesteps),
                                     counter=counter)
    finally:
        counter.remove()
    steps = np.array(res.checkpoints, dtype=np.float64)
    first_macs = sum(reference.ann_macs[n] for n, k in zip(reference.projections,
                                                           reference.kinds) if k == "mac")
    synops = np.asarray(res.synaptic_ops_per_image, dtype=np.float64)
    energy = synops * reference.e_ac + first_macs * steps * reference.e_mac
    ratio = energy / reference.ann
    accuracy = res.curve(data.y_test)
    t = steps_to_within(res.checkpoints, accuracy, ann, 1.0)
    i = res.checkpoints.index(t) if t is not None else len(res.checkpoints) - 1
    over = np.flatnonzero(energy >= reference.ann)
    even = None if over.size == 0 else int(res.checkpoints[over[0]])
    return {"e_ac": reference.e_ac, "e_mac": reference.e_mac,
            "ann_macs": dict(reference.ann_macs),
            "ann_macs_per_image": int(sum(reference.ann_macs.values())),
            "ann_energy_j": reference.ann, "checkpoints": list(res.checkpoints),
            "accuracy": [float(a) for a in accuracy],
            "energy_per_image_j": [float(v) for v in energy],
            "energy_ratio": [float(v) for v in ratio],
            "spikes_per_image": [float(v) for v in res.spikes_per_image],
            "synaptic_ops_per_image": [float(v) for v in synops],
            "first_layer_macs_per_step": int(first_macs),
            "t_within_1": t, "at_t": int(res.checkpoints[i]),
            "energy_ratio_at": float(ratio[i]), "energy_per_image_j_at": float(energy[i]),
            "break_even_t": even, "break_even_exact": _exact(res.checkpoints, even),
            "accuracy_at_break_even": None if even is None
            else float(accuracy[res.checkpoints.index(even)])}
