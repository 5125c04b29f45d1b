"""bench/report.py on small synthetic pytest-benchmark JSON files: the Markdown
has the expected sections and tables, the PNGs are written, and partial or
empty input still gives a report."""

import importlib.util
import json
import os

import pytest

REPORT = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "report.py")


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("snncore_bench_report", REPORT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CPS = [1, 2, 4, 8, 16, 32]


def _quality(method, reset, encoding, group="matrix", model="fashion_cnn", setting=None):
    return {"kind": "quality", "group": group, "model": model, "method": method,
            "setting": setting or method, "reset": reset, "encoding": encoding,
            "options": {"norm": method, "reset": reset}, "checkpoints": CPS,
            "accuracy": [0.1, 0.2, 0.5, 0.8, 0.885, 0.9], "ann_accuracy": 0.9,
            "t_within_1": 16, "t_within_0_1": 32, "spikes_per_image": [1.0] * 6,
            "synaptic_ops_per_image": [10.0] * 6, "energy_ratio": [0.1, 0.2, 0.4, 0.8, 1.6, 3.2],
            "images": 20, "calibration": 50, "readout_start": 1, "scale": "smoke"}


ENERGY = {"kind": "energy", "simulator": "snncore", "model": "fashion_cnn",
          "setting": "channel+half", "options": {"norm": "channel", "v_init": 0.5},
          "encoding": "analog", "e_ac": 0.9e-12, "e_mac": 4.6e-12,
          "ann_macs": {"conv1": 225792, "fc": 1280}, "ann_macs_per_image": 227072,
          "ann_energy_j": 227072 * 4.6e-12, "checkpoints": CPS,
          "accuracy": [0.3, 0.6, 0.89, 0.9, 0.9, 0.9],
          "energy_per_image_j": [1e-7, 2e-7, 4e-7, 8e-7, 1.6e-6, 3.2e-6],
          "energy_ratio": [0.1, 0.2, 0.4, 0.8, 1.6, 3.2], "spikes_per_image": [1.0] * 6,
          "synaptic_ops_per_image": [1.0] * 6, "t_within_1": 4, "at_t": 4,
          "energy_ratio_at": 0.4, "energy_per_image_j_at": 4e-7,
          "per_projection": {"conv1": {"kind": "mac", "operations": 903168.0,
                                       "joules": 4.15e-6, "ann_macs": 225792},
                             "fc": {"kind": "ac", "operations": 512.0, "joules": 4.6e-10,
                                    "ann_macs": 1280}},
          "break_even_t": 16, "break_even_exact": False, "accuracy_at_break_even": 0.9,
          "ann_accuracy": 0.9, "images": 20, "calibration": 50}

CLAIM = {"kind": "claim", "claim": "kim_channel_vs_layer", "paper": "Kim et al. 2020",
         "statement": "channel-wise normalisation converges faster", "setup": "analog input",
         "checkpoints": CPS, "verdict": "agrees: on fashion_cnn, within 1 point of the ANN: "
                                      "channel-wise at T=4, layer-wise at T=16 (4.0x).",
         "rows": [{"model": "fashion_cnn", "setting": "channel-wise", "encoding": "analog",
                   "reset": "subtract", "ann_accuracy": 0.9,
                   "accuracy": [0.1, 0.5, 0.9, 0.9, 0.9, 0.9], "t_within_1": 4,
                   "t_within_0_1": 4, "images": 20},
                  {"model": "maxpool_cnn", "setting": "ANN only", "ann_accuracy": 0.91,
                   "accuracy": [], "t_within_1": None, "t_within_0_1": None}]}

SPEED = [{"kind": "speed", "simulator": sim, "model": "fashion_cnn", "timesteps": 64,
          "batch": 100, "threads": 2, "images_per_s": ips, "accuracy": 0.9,
          "peak_rss_mb": 120.0, "ratio_vs_spikingjelly": 12.5 if sim == "snncore" else None}
         for sim, ips in (("snncore", 700.0), ("spikingjelly-default", 53.6), ("ann", 5411.0))]

SWEEP = {"model": "fashion_cnn", "ann_accuracy": 0.9025, "images": 2000, "calibration": 1000,
         "timesteps": [4, 8], "rows": [{"setting": "channel+half", "options": {},
                                       "accuracy": [0.888, 0.901], "readout_start": 1,
                                       "spikes_per_image_at_max_T": 123456.0,
                                       "seconds": 12.0},
                                      {"setting": "spike", "options": {}, "accuracy": [0.097],
                                       "readout_start": 1, "seconds": 40.0}]}

PEERS = {"model": "fashion_cnn", "T": 8, "checkpoints": [4, 8], "images": 200,
         "calibration_images": 500, "threads": 2,
         "rows": [{"name": "SpikingJelly 99.9%", "accuracy": [0.7, 0.78],
                   "spikes_per_image": [1e5, 2e5], "synaptic_ops_per_image": [4e7, 8e7],
                   "images_per_s": {"1": 12.4, "100": 53.6}},
                  {"name": "ANN (PyTorch)", "accuracy": [0.9, 0.9], "spikes_per_image": None,
                   "synaptic_ops_per_image": None, "images_per_s": {}}]}

MAXPOOL = [{"kind": "maxpool_study", "model": model, "variant": variant, "runner": runner,
            "thresholds": thresholds, "description": f"what {variant} does", "checkpoints": CPS,
            "accuracy": accuracy, "ann_accuracy": 0.9, "t_within_1": within, "images": 20,
            "calibration": 50, "run_seconds": 1.0, "scale": "smoke"}
           for model, variant, runner, thresholds, accuracy, within in (
               ("maxpool_cnn", "snncore spike", "snncore", "percentile",
                [0.1, 0.2, 0.5, 0.8, 0.885, 0.9], 16),
               ("maxpool_cnn", "count-max", "simulator", "percentile",
                [0.1, 0.2, 0.5, 0.8, 0.885, 0.9], 16),
               ("maxpool_cnn", "snncore avg", "snncore", "percentile",
                [0.1, 0.1, 0.3, 0.6, 0.7, 0.75], None),
               ("resnet18", "snncore spike + low latency", "snncore", "low latency",
                [0.3, 0.5, 0.7, 0.85, 0.89, 0.9], 16),
               ("resnet18", "SpikingJelly max", "SpikingJelly", "own",
                [0.1, 0.1, 0.2, 0.6, 0.8, 0.85], None))]
MAXPOOL[1]["agreement"] = {"max_accuracy_gap_points": 0.0, "tolerance_points": 5.0,
                           "prediction_agreement": [1.0, 0.95, 1.0, 1.0, 1.0, 1.0],
                           "max_relative_readout_difference": 3e-6,
                           "engine_variant": "snncore spike"}
MAXPOOL[2]["ann_avg_pool_accuracy"] = 0.8
MAXPOOL[3]["options"] = {"maxpool": "spike", "norm": "channel", "v_init": 0.5}


def _benchmark_json(path, infos, **top):
    doc = {"machine_info": {"python_version": "3.11.7",
                            "snncore": {"cpu_model": "Test CPU 9000", "cores": 2,
                                        "usable_cores": 2,
                                        "bench_scale": {"scale": "smoke", "images": 20}}},
           "commit_info": {"id": "0123456789abcdef", "dirty": True},
           "datetime": "2026-11-28T10:00:00+00:00",
           "benchmarks": [{"name": f"test_{i}", "fullname": f"bench/x.py::test_{i}",
                           "stats": {"median": 0.5}, "extra_info": info}
                          for i, info in enumerate(infos)]}
    doc.update(top)
    path.write_text(json.dumps(doc))
    return str(path)


def _run(report, tmp_path, files, results_dir=None):
    out = tmp_path / "out" / "RESULTS.md"
    plots = tmp_path / "out" / "plots"
    results_dir = results_dir or tmp_path / "no-results"
    assert report.main([*files, "--out", str(out), "--plots", str(plots),
                        "--results-dir", str(results_dir)]) == 0
    return out.read_text(), plots


def test_full_report(report, tmp_path):
    quality = [_quality(m, r, e) for m in ("percentile", "channel") for r in ("subtract", "zero")
               for e in ("analog", "poisson")]
    quality.append(_quality("channel", "subtract", "analog", group="low_latency",
                            model="vgg", setting="channel+half"))
    first = _benchmark_json(tmp_path / "a.json", quality + [ENERGY, CLAIM])
    targets = [{"target": 1, "what": "snncore / SpikingJelly, T=64, batch 100",
                "measured": "12.50x", "goal": ">= 10x SpikingJelly", "met": True}]
    second = _benchmark_json(tmp_path / "b.json", SPEED, speed_targets=targets)
    results = tmp_path / "results"
    results.mkdir()
    (results / "sweep_fashion_cnn.json").write_text(json.dumps(SWEEP))
    (results / "peers_fashion_cnn.json").write_text(json.dumps(PEERS))
    (results / "sweep_broken.json").write_text("{not json")
    text, plots = _run(report, tmp_path, [first, second], results)

    # the machine, the date and the commands
    assert "Test CPU 9000" in text and "2026-11-28 10:00 UTC" in text
    assert "pytest bench/ --benchmark-only --benchmark-json=bench/results/full.json" in text
    assert "python bench/report.py bench/results/full.json" in text
    # the quality matrix: one row per method x reset x encoding, with T columns
    assert "| method | reset | encoding | T=1 | T=4 | T=16 | T=32 | T to 1 pt | T to 0.1 pt |" \
        in text
    assert "| percentile | zero | poisson | 10.00 | 50.00 | 88.50 | 90.00 | 16 | 32 |" in text
    assert text.index("| percentile | subtract | analog") < text.index("| channel | subtract")
    # the low-latency table (T=4..32 present in the data)
    assert "| vgg | channel+half | 90.00 | 50.00 | 80.00 | 88.50 | 90.00 | 16 | 1 |" in text
    # energy: the summary and the per-projection table
    assert "| fashion_cnn | snncore | channel+half | 227,072 |" in text
    assert "| 4 | 0.4 | 0.4 | 16 (~) | 90.00 |" in text
    assert "| conv1 | mac | 903,168 | 4.15 | 225,792 | 1.04 |" in text
    # the claim, its table and verdict; an ANN-only row
    assert "### Kim et al. 2020: kim_channel_vs_layer" in text
    assert "**Verdict:** agrees: on fashion_cnn" in text
    assert "| maxpool_cnn | ANN only | - | 91.00 | - |" in text
    # speed and its targets
    assert "| fashion_cnn | snncore | 64 | 100 | 2 | 700 | 90.00 | 120 | 12.5x | - | - |" in text
    assert "| 1 | snncore / SpikingJelly, T=64, batch 100 | 12.50x | >= 10x SpikingJelly | yes |" \
        in text
    # the side files, the broken one skipped
    assert "| channel+half | 88.80 | 90.10 | 1 | 123,456 | 12 |" in text
    assert "| spike | 9.70 |  | 1 | - | 40 |" in text       # a row without its spike count
    assert "| SpikingJelly 99.9% | 70.00 | 78.00 | 200,000 | 80,000,000 | 12.4 | 53.6 |" in text


def test_maxpool_study_section(report, tmp_path):
    # the same rule on the low-latency thresholds: described on count-max's line
    twin = dict(MAXPOOL[1], variant="count-max + low latency", thresholds="low latency",
                agreement=None)
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", MAXPOOL + [twin])])
    assert "## Max pooling: the ways of converting it" in text
    section = text[text.index("## Max pooling"):]
    # one table per model, in the order first seen
    assert section.index("**maxpool_cnn**: ANN 90.00% on the first 20 test images") < \
        section.index("**resnet18**: ANN 90.00% on the first 20 test images")
    assert section.count("| variant | run by | thresholds | T=1 | T=2 | T=4 | T=8 | T=16 | "
                         "T=32 | T to 1 pt |") == 2
    assert "| snncore spike | snncore | percentile | 10.00 | 20.00 | 50.00 | 80.00 | 88.50 | " \
        "90.00 | 16 |" in text
    assert "| snncore avg | snncore | percentile | 10.00 | 10.00 | 30.00 | 60.00 | 70.00 | " \
        "75.00 | - |" in text
    assert "| SpikingJelly max | SpikingJelly | own | 10.00 | 10.00 | 20.00 | 60.00 | 80.00 " \
        "| 85.00 | - |" in text
    assert "- `count-max`, `count-max + low latency`: what count-max does" in text
    assert "(what `snncore avg` converts): 80.00%" in text
    assert "`low latency` on resnet18: norm='channel', v_init=0.5." in text
    assert "Simulator check (`count-max` against `snncore spike`): the accuracies differ " \
        "by at most 0.00 points (allowed 5.00); at every T the predictions agree on at " \
        "least 95.00% of the images" in text
    # the resnet18 table has no low-latency line of maxpool_cnn's and no check of its own
    resnet = section[section.index("**resnet18**"):]
    assert "Simulator check" not in resnet and "`low latency` on maxpool_cnn" not in section


def _recipe_speed(sim, batch, ips, recipe=None, isa=None, **extra):
    """A record of bench/test_speed_recipes.py on fashion_cnn at T=32."""
    return dict({"kind": "recipe_speed", "simulator": sim, "model": "fashion_cnn",
                 "timesteps": 32, "batch": batch, "threads": 2, "images_per_s": ips,
                 "recipe": recipe, "isa": isa, "accuracy": 0.9, "load_avg_1min": 1.5}, **extra)


def test_recipe_speed_section(report, tmp_path):
    conv = {"op": "conv2d", "in_channels": 32, "kernel": [3, 3], "stride": [1, 1], "groups": 1,
            "signed": False, "seconds": 0.1, "synops_per_image": 2e7, "events_per_image": 4e4,
            "ns_per_synop": 0.05, "ns_per_event": 25.0}
    rows = [_recipe_speed("spikingjelly", 100, 20.0, accuracy=0.91),
            _recipe_speed("snncore", 100, 250.0, "low_latency", "avx2",
                          ratio_vs_spikingjelly=12.5, target=">= 10x SpikingJelly",
                          ratio_from="alternating rounds", ratio_sequential=14.0,
                          ratio_rounds={"median": 12.5, "low": 11.04, "high": 13.96,
                                        "rounds": 5, "images": 100, "sj_images_per_s": 21.0},
                          target_met=True, spikes_per_image=3e5, synops_per_image=4e7,
                          identical_to_generic=True, projections={"conv2": conv}),
            _recipe_speed("snncore", 100, 150.0, "low_latency", "generic",
                          ratio_vs_spikingjelly=7.5, target=">= 10x SpikingJelly",
                          target_met=False, identical_to_generic=True)]
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", rows)])
    assert "## Speed by kernel set and recipe" in text
    assert "pytest bench/test_speed_recipes.py --benchmark-only" in text
    # the ratio of alternating rounds with their range; the generic row's is sequential
    assert "| fashion_cnn | low_latency | avx2 | 100 | 250 | 21 | 12.5x (11.0-14.0) | >= 10x " \
        "SpikingJelly: yes | 90.00 / 91.00 | 300,000 | 40,000,000 | yes |" in text
    assert "| fashion_cnn | low_latency | generic | 100 | 150 | 20 | 7.5x s | >= 10x " \
        "SpikingJelly: NO |" in text
    assert "| fashion_cnn | low_latency | avx2 | conv2 | conv2d | 20,000,000 | 40,000 | " \
        "0.05 | 25 |" in text
    # by kind: 2e7 synops x 100 images in 0.1 s on one core, 4e4 events x 100 images
    assert "| avx2 | low_latency | conv, 32-63 input channels | 1 (fashion_cnn) | " \
        "20,000,000,000 | 25 |" in text


@pytest.mark.parametrize("projection, kind", [
    (dict(op="conv2d", in_channels=1, kernel=[3, 3], stride=[1, 1], groups=1),
     "conv, < 16 input channels"),
    (dict(op="conv2d", in_channels=16, kernel=[3, 3], stride=[1, 1], groups=1),
     "conv, 16-31 input channels"),
    (dict(op="conv2d", in_channels=63, kernel=[3, 3], stride=[1, 1], groups=1),
     "conv, 32-63 input channels"),
    (dict(op="conv2d", in_channels=64, kernel=[3, 3], stride=[1, 1], groups=1),
     "conv, >= 64 input channels"),
    (dict(op="conv2d", in_channels=32, kernel=[3, 3], stride=[2, 2], groups=1), "strided conv"),
    (dict(op="conv2d", in_channels=32, kernel=[1, 1], stride=[2, 2], groups=1), "1x1 conv"),
    (dict(op="conv2d", in_channels=32, kernel=[3, 3], stride=[1, 1], groups=32),
     "depthwise/grouped conv"),
    (dict(op="conv2d"), "conv (shape not recorded)"),
    (dict(op="avgpool2d", in_channels=32), "pooling"),
    (dict(op="identity", in_channels=32), "identity (junction shortcut)"),
    (dict(op="dense", in_channels=None, signed=True), "dense (linear), signed"),
    (dict(op="conv2d", in_channels=16, kernel=[1, 1], stride=[1, 1], groups=1,
          source_kind="relay"), "1x1 conv, from a relay"),
    (dict(op="conv2d", in_channels=16, kernel=[1, 1], stride=[1, 1], groups=1,
          source_kind="if"), "1x1 conv"),
])
def test_projection_kind(report, projection, kind):
    assert report.projection_kind(projection) == kind


def _tta_row(threads, batch, onnx, snn):
    return {"threads": threads, "batch": batch, "images": 100 if batch > 1 else 50,
            "rounds": 7, "load_avg_1min": 1.25, "onnxruntime_images_per_s": onnx,
            "pytorch_images_per_s": 1000.0, "snncore_images_per_s": snn,
            "ratio_vs_onnxruntime": snn / onnx, "ratio_vs_pytorch": snn / 1000.0}


def _tta(model, reached=True, target=">= 0.8x onnxruntime at batch 100 and 1"):
    return {"model": model, "points": 0.5, "ladder": [2, 4, 8], "ann_accuracy": 0.9025,
            "accuracy_images": 2000, "tried": {"2": 0.85, "4": 0.9}, "timesteps": 4,
            "reached": reached, "snn_accuracy": 0.9, "target": target,
            "rows": [_tta_row(1, 100, 4000.0, 3600.0), _tta_row(1, 1, 4000.0, 2000.0)],
            "profile": {"conv2": {"op": "conv2d", "in_channels": 32, "kernel": [3, 3],
                                  "stride": [1, 1], "groups": 1, "seconds": 0.01,
                                  "synops_per_image": 2e6, "events_per_image": 1e4,
                                  "ann_macs": 3e6}},
            "passes": {"act2": 0.01}, "profile_wall_seconds": 0.025, "profile_images": 100,
            "ann_profile": {"/conv2/Conv": {"op": "Conv", "us_per_image": 30.0},
                            "/fc/Gemm": {"op": "Gemm", "us_per_image": 10.0}}}


def test_time_to_accuracy_section(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    first = _benchmark_json(tmp_path / "a.json", [dict(_tta("vgg", reached=False, target=None),
                                                       kind="time_to_accuracy")])
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "b.json", [CLAIM])], results)
    assert "_No bench/results/time_to_accuracy.json in the input: " \
        "python bench/time_to_accuracy.py --json" in text
    (results / "time_to_accuracy.json").write_text(json.dumps(
        {"seconds": 300.0, "models": [_tta("fashion_cnn")]}))
    text, _ = _run(report, tmp_path, [first], results)
    assert "## Time to accuracy against the ANN runtimes" in text
    assert "| fashion_cnn | 4 | 90.00 / 90.25 | 1 | 100 | 4,000 | 1,000 | 3,600 | 0.90x | " \
        "3.60x | >= 0.8x: yes | 1.25 |" in text
    assert "| fashion_cnn | 4 | 90.00 / 90.25 | 1 | 1 | 4,000 | 1,000 | 2,000 | 0.50x | " \
        "2.00x | >= 0.8x: NO | 1.25 |" in text
    assert "| vgg | 4 (not reached: the ladder's best) |" in text
    assert "fashion_cnn T=2: 85.00, T=4: 90.00" in text
    # 0.01 s for 100 images: 100 µs an image, half of the profiled time
    assert "200 µs an image in its parts, 250 µs wall" in text
    assert "| conv2 | conv, 32-63 input channels | 3,000,000 | 2,000,000 | 10,000 | 100 | " \
        "50% |" in text
    assert "| act2 | population pass |  |  |  | 100 | 50% |" in text
    assert "40 µs an image in its nodes" in text and "| /conv2/Conv | Conv | 30 | 75% |" in text


def _torchvision(model, setting, accuracy):
    """A torchvision row at T = 8 ... 128 whose ANN has 90 %."""
    return dict(_quality("channel", "subtract", "analog", group="torchvision", model=model,
                         setting=setting),
                checkpoints=[8, 16, 32, 64, 128], accuracy=accuracy, images=1000,
                calibration=1000)


def test_torchvision_section(report, tmp_path):
    rows = [_torchvision("resnet18", "recipe", [0.5, 0.8, 0.895, 0.899, 0.9]),
            _torchvision("resnet18", "percentile", [0.1, 0.3, 0.6, 0.8, 0.85]),
            _torchvision("vgg11_bn", "recipe", [0.5, 0.8, 0.885, 0.89, 0.896])]
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", rows)])
    assert "## torchvision architectures on Fashion-MNIST 32x32" in text
    assert "| model | setting | ANN | T=8 | T=16 | T=32 | T=64 | T=128 | gap T=32 | gap T=128 " \
        "| target |" in text
    assert "| resnet18 | recipe | 90.00 | 50.00 | 80.00 | 89.50 | 89.90 | 90.00 | -0.50 | +0.00 " \
        "| met |" in text
    # the reference rows have no target; a miss says where and by how much
    assert "| resnet18 | percentile | 90.00 | 10.00 | 30.00 | 60.00 | 80.00 | 85.00 | -30.00 " \
        "| -5.00 |  |" in text
    assert "| -1.50 | -0.40 | missed: T=32 by 0.50, T=128 by 0.10 |" in text


def test_plots_are_written(report, tmp_path):
    pytest.importorskip("matplotlib")
    infos = [_quality("percentile", "subtract", "analog"),
             _quality("channel", "zero", "poisson"), ENERGY] + SPEED
    text, plots = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", infos)])
    names = sorted(os.listdir(plots))
    assert names == ["accuracy_fashion_cnn.png", "energy_accuracy.png", "throughput.png"]
    for name in names:
        with open(plots / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert f"](plots/{name})" in text


def test_partial_and_empty_input(report, tmp_path):
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", [CLAIM])])
    assert "**Verdict:** agrees" in text
    for kind in ("quality matrix records", "low-latency records", "torchvision records",
                 "energy records", "speed records", "max pooling study records",
                 "recipe speed records", "bench/results/time_to_accuracy.json",
                 "sweep_*.json or peers_*.json files"):
        assert f"_No {kind} in the input" in text
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"benchmarks": []}))
    text, _ = _run(report, tmp_path, [str(empty)])
    assert "# snncore benchmark results" in text and "_No claim records" in text
    assert "CPU (from /proc/cpuinfo of this machine (report.py))" in text


def _detection_row(setting, neurons, map50, t98):
    cps = [4, 8, 16, 32]
    return {"setting": setting, "neurons": neurons, "checkpoints": cps, "map50": map50,
            "map50_95": [v / 2 for v in map50], "t_within_2pct_map50": t98,
            "t_within_2pct_map50_95": None}


DETECTION = {
    "kind": "detection", "model": "tiny_yolo",
    "model_info": {"parameters": 1234, "train_seconds": 60.0, "leaky_slope": 0.1},
    "data": {"test": {"canvases": 2000}, "settings": {"canvas": 64}},
    "snn_images": 500, "calibration_images": 500, "maxpool": "spike",
    "ann": {"all_test": {"map50": 0.58, "map50_95": 0.3},
            "snn_images": {"map50": 0.6, "map50_95": 0.31},
            "relu_twin_snn_images": {"map50": 0.55, "map50_95": 0.24}},
    "rows": [_detection_row("channel-wise, signed", "signed", [0.1, 0.4, 0.59, 0.6], 16),
             dict(_detection_row("SpikingJelly, ReLU twin", "plain IF", [0.2, 0.3, 0.4, 0.5],
                                 None),
                  refusal_of_leaky_model="ValueError: no LeakyReLU")],
    "target": {"fraction": 0.98, "max_t": 32, "met": True,
               "met_at": {"channel-wise, signed": [16, 32]}},
    "grid": {"path": "plots/detection_grid.png", "timesteps": [8, 32],
             "row": "channel-wise, signed", "canvases": 6, "score_threshold": 0.3},
    "paper": {"fraction": 0.97, "dataset": "PASCAL VOC", "model": "Tiny-YOLO",
              "timesteps": "thousands", "note": "channel-wise normalisation"},
}


def test_detection_section_from_the_results_dir(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "detection.json").write_text(json.dumps(DETECTION))
    # no JSON named: the DEFAULT_INPUTS present in the results dir (here one) are read
    _benchmark_json(results / report.DEFAULT_INPUTS[0], [CLAIM])
    out = tmp_path / "out" / "RESULTS.md"
    assert report.main(["--out", str(out), "--plots", str(tmp_path / "out" / "plots"),
                        "--results-dir", str(results)]) == 0
    text = out.read_text()
    expected = (
        "**Verdict:** agrees",
        "## Object detection: a spiking Tiny-YOLO",
        "mAP@0.5 58.00%, mAP@0.5:0.95 30.00% on the 2,000 test canvases",
        "| setting | neurons | T=4 | T=8 | T=16 | T=32 | T to 98% |",
        "| channel-wise, signed | signed | 10.00 | 40.00 | 59.00 | 60.00 | 16 |",
        "| SpikingJelly, ReLU twin | plain IF | 10.00 | 15.00 | 20.00 | 25.00 | - |",
        "with the low-latency recipe: met. channel-wise, signed: at T = 16, 32.",
        "reaches 97% of the ANN's mAP after thousands of timesteps",
        "refuses it: `ValueError: no LeakyReLU`",
        "![ANN and SNN boxes](plots/detection_grid.png)")
    missing_lines = [line for line in expected if line not in text]
    assert not missing_lines

def test_without_detection_results_the_section_says_how_to_make_them(report, tmp_path):
    text, _ = _run(report, tmp_path, [_benchmark_json(tmp_path / "a.json", [CLAIM])])
    assert "_No bench/results/detection.json in the input: python bench/detection_study.py._" \
        in text


NIR_PEER = {"model": "fashion_cnn", "peer": "sinabs 3.1.3 (nirtorch 1.0, nir 1.0.4)",
            "export": {"timesteps": 32, "images": 500, "snncore_accuracy": 0.9,
                       "round_trip_identical": True, "snncore_spikes_per_image": 42000.0,
                       "sinabs": {"accuracy": 0.9, "same_prediction": 1.0,
                                  "max_output_difference": 0.84, "spikes_per_image": 42010.0,
                                  "spike_count_difference": 0.0003},
                       "sinabs_snncore_rule": {"accuracy": 0.9, "same_prediction": 1.0,
                                               "max_output_difference": 4.8e-06,
                                               "spikes_per_image": 42000.0,
                                               "spike_count_difference": 0.0}},
            "import": {"timesteps": 32, "images": 500, "node_types": ["Affine", "IF"],
                       "sinabs_accuracy": 0.87, "snncore_accuracy": 0.86,
                       "same_prediction": 0.99, "speed_images": 200, "threads": 2,
                       "sinabs_images_per_second": 11.0, "snncore_images_per_second": 700.0,
                       "speedup": 63.6}}
DASK = {"model": "fashion_cnn", "images": 2000, "timesteps": 32, "block": 100, "blocks": 20,
        "repeats": 3, "cpus": 2, "local_1_thread_images_per_second": 200.0,
        "workers": {"1": {"images_per_second": 190.0, "identical_to_local": True,
                          "overhead_ms_per_block": 4.2},
                    "2": {"images_per_second": 360.0, "identical_to_local": True,
                          "overhead_ms_per_block": 2.5, "busy_fraction": 0.97}},
        "speedup_2_over_1": 1.8947, "scaling_efficiency": 0.947, "load_average_before": 0.2,
        "load_average_after": 2.5}


def test_nir_peer_and_dask_sections(report, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    first = _benchmark_json(tmp_path / "a.json", [CLAIM])
    text, _ = _run(report, tmp_path, [first], results)
    assert "_No bench/results/nir_peer.json in the input: python bench/nir_peer.py" in text
    assert "_No bench/results/dask_scaling.json in the input" in text
    (results / "nir_peer.json").write_text(json.dumps(NIR_PEER))
    (results / "dask_scaling.json").write_text(json.dumps(DASK))
    text, _ = _run(report, tmp_path, [first], results)
    assert "| sinabs, one spike a step, no floor | 90.00 | 100.00 | 42,000 | 0.000% | 4.8e-06 |" \
        in text
    assert "| snncore | 86.00 | 700 |" in text and "63.6x as fast" in text
    assert "| 2 workers | 360 | yes | 2.5 | 97.00 |" in text
    assert "Two workers: 1.89x one worker, a scaling efficiency of 95%." in text
    assert "0.2 before, 2.5 after, on 2 CPUs; other jobs held the CPUs" in text
