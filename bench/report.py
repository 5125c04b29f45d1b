"""Write bench/RESULTS.md and the PNG plots of bench/plots/ from the JSON files
of pytest-benchmark.

    pytest bench/ --benchmark-only --benchmark-json=bench/results/full.json
    python bench/report.py bench/results/full.json [more.json ...]
        [--out bench/RESULTS.md] [--plots bench/plots] [--results-dir bench/results]
    python bench/report.py      # the committed inputs: DEFAULT_INPUTS of --results-dir

It reads the ``extra_info`` of every benchmark, by its ``kind``:

- "quality" (bench/test_quality.py): the method x reset x encoding matrix on
  fashion_cnn (group "matrix"), the low-latency settings per model
  (group "low_latency") and torchvision's architectures under the
  low-latency recipe and percentile normalisation (group "torchvision");
- "energy" (bench/test_energy.py): energy per image against the ANN's;
- "claim" (bench/test_claims.py): each paper's claim, its table and verdict;
- "speed" (bench/test_speed.py): images/s per simulator, and the JSON's
  "speed_targets" table when present;
- "recipe_speed" (bench/test_speed_recipes.py): every bench model under each
  kernel set and conversion recipe against SpikingJelly, and the cost of each
  projection per synaptic operation and per event;
- "maxpool_study" (bench/test_maxpool_study.py): the ways of converting max
  pooling, accuracy against timesteps, one table per model;
- "time_to_accuracy" (bench/test_time_to_accuracy.py, and the file
  time_to_accuracy.json of bench/time_to_accuracy.py --json): snncore at
  its ANN's accuracy against the ANN in onnxruntime and PyTorch;

and, from --results-dir, the files ``sweep_*.json`` (bench/conversion_sweep.py
--json), ``peers_*.json`` (bench/peers.py --json), ``tracking_*.json``
(bench/torchvision_tracking.py --json) and the SINGLE_FILES (nir_peer.json,
dask_scaling.json, detection.json, time_to_accuracy.json). Every section is
rendered from what is present; a missing kind says which benchmark makes it.
Plots need matplotlib (Agg backend); without it the Markdown is written alone.
When several files hold the same record, the later file's wins.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from evaluation import RECIPE, RECIPE_LTB100  # noqa: E402
from machine import cpu_model, vector_extensions  # noqa: E402

# Columns of the tables (those present in the data are shown).
MATRIX_T = (1, 4, 16, 64, 256, 512)
LOW_LATENCY_T = (4, 8, 16, 32, 64, 128)
TORCHVISION_T = (8, 16, 32, 64, 128)
# The torchvision architectures' targets under the recipe: T -> the most
# percentage points below the ANN the SNN may be there.
TORCHVISION_TARGETS = {32: 1.0, 128: 0.3}
CLAIM_T = (1, 4, 16, 64, 256, 512)
MAXPOOL_T = (1, 2, 4, 8, 16, 32, 64, 128, 256)
METHOD_ORDER = ("none", "model", "max", "percentile", "channel", "spike", "ltb")
DETECTION_T = (4, 8, 16, 32, 64, 128, 256, 512)
# The pytest-benchmark files RESULTS.md is made from when no file is named
# (bench/detection_study.py regenerates it so).
DEFAULT_INPUTS = ("full.json", "speed.json", "torchvision.json", "torchvision_recipe.json",
                  "maxpool_study.json", "speed_recipes.json")

COMMANDS = """\
.venv/bin/pip install -e ".[convert,bench]"                       # torch, matplotlib, mlxtend
.venv/bin/pip install --no-deps -r bench/requirements-peers.txt   # SpikingJelly, sinabs
.venv/bin/python -m pytest bench/ --benchmark-only --benchmark-json=bench/results/full.json
.venv/bin/python bench/report.py bench/results/full.json          # this file and bench/plots/"""


# -- reading -------------------------------------------------------------------------

class Data:
    """Everything read: records (extra_info dicts with `_name`, the benchmark's
    name, and `_median`, its median time in seconds or None), machine_info,
    commit_info and datetime of the first file that has them, speed_targets
    rows, sweeps, peers and trackings (the JSON objects of sweep_*.json,
    peers_*.json and tracking_*.json)."""

    def __init__(self):
        self.records = []
        self.machine = {}
        self.commit = {}
        self.datetime = None
        self.speed_targets = []
        self.sweeps = []
        self.peers = []
        self.trackings = []
        self.single = {}        # name -> the JSON object of results/<name>.json (SINGLE_FILES)
        self.sources = []

    def of_kind(self, kind):
        return [r for r in self.records if r.get("kind") == kind]


def read_benchmark_json(data, path):
    """Add one pytest-benchmark JSON file to `data`."""
    with open(path) as f:
        doc = json.load(f)
    data.sources.append(path)
    if data.machine:
        # the first file's machine, with what only a later file recorded (same machine)
        theirs = doc.get("machine_info", {}).get("snncore") or {}
        ours = data.machine.setdefault("snncore", {})
        for key, value in theirs.items():
            ours.setdefault(key, value)
    else:
        data.machine = doc.get("machine_info", {})
    data.commit = data.commit or doc.get("commit_info", {})
    data.datetime = data.datetime or doc.get("datetime")
    data.speed_targets = doc.get("speed_targets") or data.speed_targets
    for b in doc.get("benchmarks", []):
        info = dict(b.get("extra_info") or {})
        if "kind" not in info:
            continue
        info["_name"] = b.get("fullname") or b.get("name")
        info["_median"] = (b.get("stats") or {}).get("median")
        data.records.append(info)


def read_side_files(data, results_dir):
    """sweep_*.json, peers_*.json and tracking_*.json of `results_dir` (unreadable
    ones are skipped)."""
    for pattern, bucket in (("sweep_*.json", data.sweeps), ("peers_*.json", data.peers),
                            ("tracking_*.json", data.trackings)):
        for path in sorted(glob.glob(os.path.join(results_dir, pattern))):
            try:
                with open(path) as f:
                    doc = json.load(f)
            except (OSError, ValueError) as e:
                print(f"report: skipping {path}: {e}", file=sys.stderr)
                continue
            if isinstance(doc, dict) and isinstance(doc.get("rows"), list):
                doc["_path"] = path
                bucket.append(doc)


# Side files of one record each: results/<name>.json, from the script that writes it.
SINGLE_FILES = {"nir_peer": "python bench/nir_peer.py --json bench/results/nir_peer.json",
                "dask_scaling": "python bench/dask_scaling.py --json "
                                "bench/results/dask_scaling.json",
                "detection": "python bench/detection_study.py",
                "time_to_accuracy": "python bench/time_to_accuracy.py --json "
                                    "bench/results/time_to_accuracy.json"}


def missing_single(name):
    """The note that results/<name>.json (one of SINGLE_FILES) is missing."""
    return missing(f"bench/results/{name}.json", SINGLE_FILES[name])


def write_single_file(record, path=None):
    """Print the record of a SINGLE_FILES script as JSON, and write it to `path`
    when given (what read_single_files reads back)."""
    text = json.dumps(record, indent=2)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")
    print(text)


def read_single_files(data, results_dir):
    """The SINGLE_FILES present in `results_dir` (unreadable ones are skipped)."""
    for name in SINGLE_FILES:
        path = os.path.join(results_dir, name + ".json")
        if not os.path.exists(path):
            continue
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report: skipping {path}: {e}", file=sys.stderr)
            continue
        if isinstance(doc, dict):
            data.single[name] = doc


def latest(records, key):
    """The records with duplicates (same key(record)) removed, the last one kept,
    in first-seen order."""
    out = {}
    for r in records:
        out[key(r)] = r
    return list(out.values())


# -- formatting ----------------------------------------------------------------------

def pct(v):
    """A fraction as a percentage with two decimals; '-' for None."""
    return "-" if v is None else f"{100 * v:.2f}"


def num(v, digits=3):
    """A number with thousands separators or a few significant digits; '-' for None."""
    if v is None:
        return "-"
    if isinstance(v, int) or abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def steps(t):
    return "-" if t is None else str(t)


def table(headers, rows):
    """A Markdown table (list of lines)."""
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in rows]
    return out


def columns(wanted, checkpoints):
    """The timesteps of `wanted` present in `checkpoints`, and the last checkpoint."""
    cols = [t for t in wanted if t in checkpoints]
    if checkpoints and checkpoints[-1] not in cols:
        cols.append(checkpoints[-1])
    return cols


def acc_at(record, t):
    """Accuracy of a record at checkpoint t, or None."""
    cps = record.get("checkpoints") or []
    acc = record.get("accuracy") or []
    return acc[cps.index(t)] if t in cps and cps.index(t) < len(acc) else None


def union_checkpoints(records):
    return sorted({t for r in records for t in (r.get("checkpoints") or [])})


def missing(what, how):
    return [f"_No {what} in the input: {how}._", ""]


# -- sections ------------------------------------------------------------------------

def machine_section(data, generated):
    """Machine, date, sources, and the commands that regenerate the report."""
    snn = data.machine.get("snncore") or {}
    cpu = snn.get("cpu_model") or (data.machine.get("cpu") or {}).get("brand_raw")
    cores = snn.get("cores") or (data.machine.get("cpu") or {}).get("count")
    where = "the benchmark run"
    if not cpu:
        cpu, cores, where = cpu_model(), os.cpu_count(), "this machine (report.py)"
    when = data.datetime or "unknown"
    if data.datetime:
        when = datetime.datetime.fromisoformat(data.datetime).strftime("%Y-%m-%d %H:%M UTC")
    scale = snn.get("bench_scale") or {}
    commit = data.commit.get("id")
    vector = snn.get("vector_extensions")
    if vector is None and where.startswith("this machine"):
        vector = vector_extensions()
    rows = [("CPU (from /proc/cpuinfo of " + where + ")", cpu or "unknown"),
            ("cores", f"{cores} ({snn['usable_cores']} usable)" if snn.get("usable_cores")
             else str(cores)),
            ("vector extensions (snncore picks the widest)", vector or
             "not recorded (benchmarks run before this field was added)"),
            ("benchmarks run", when),
            ("Python", data.machine.get("python_version", platform.python_version())),
            ("commit", f"{commit[:12]}{' (with local changes)' if data.commit.get('dirty') else ''}"
             if commit else "unknown"),
            ("benchmark scale", ", ".join(f"{k} {v}" for k, v in scale.items()) or "unknown"),
            ("input files", ", ".join(os.path.relpath(p) for p in data.sources) or "none"),
            ("report written", generated)]
    return (["## Machine and how to regenerate", ""] + table(["", ""], rows) + [""]
            + ["Regenerate (on a quiet machine: the full run takes about 36 minutes on 2 cores, "
               "see bench/README.md):",
               "", "```sh", COMMANDS, "```", ""])


def quality_matrix_section(data):
    recs = latest([r for r in data.of_kind("quality") if r.get("group") == "matrix"],
                  lambda r: (r.get("model"), r.get("method"), r.get("reset"), r.get("encoding")))
    out = ["## Conversion quality: method x reset x encoding", ""]
    if not recs:
        return out + missing("quality matrix records", "run bench/test_quality.py")
    for model in sorted({r["model"] for r in recs}):
        mine = sorted([r for r in recs if r["model"] == model], key=_matrix_order)
        first = mine[0]
        cols = columns(MATRIX_T, union_checkpoints(mine))
        out += [f"**{model}**: ANN {pct(first.get('ann_accuracy'))}% on {num(first.get('images'))} "
                f"test images; thresholds from {num(first.get('calibration'))} training images. "
                "Accuracy in % at T steps; the last columns give the first T within 1 and "
                "0.1 points of the ANN.", ""]
        rows = [[r["method"], r["reset"], r["encoding"]]
                + [pct(acc_at(r, t)) for t in cols]
                + [steps(r.get("t_within_1")), steps(r.get("t_within_0_1"))] for r in mine]
        out += table(["method", "reset", "encoding"] + [f"T={t}" for t in cols]
                     + ["T to 1 pt", "T to 0.1 pt"], rows) + [""]
    return out


def _matrix_order(r):
    m = r.get("method")
    return (METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER), str(m),
            r.get("reset") != "subtract", r.get("encoding") != "analog")


def quality_rows(data, group):
    """The latest quality records of `group`, one per (model, setting)."""
    return latest([r for r in data.of_kind("quality") if r.get("group") == group],
                  lambda r: (r.get("model"), r.get("setting")))


def accuracy_row(record, cols):
    """A row's first cells: model, setting, the ANN's accuracy, the SNN's at each T of cols."""
    return ([record["model"], record["setting"], pct(record.get("ann_accuracy"))]
            + [pct(acc_at(record, t)) for t in cols])


def low_latency_section(data):
    recs = quality_rows(data, "low_latency")
    out = ["## Low-latency settings per model (analog input)", ""]
    if not recs:
        return out + missing("low-latency records", "run bench/test_quality.py")
    cols = columns(LOW_LATENCY_T, union_checkpoints(recs))
    rows = [accuracy_row(r, cols) + [steps(r.get("t_within_1")), steps(r.get("readout_start"))]
            for r in recs]
    return (out + ["Accuracy in % at T steps; `half`: membranes start at half threshold, "
                   "`delay`: automatic delayed read-out (its start step in the last column), "
                   "`biascal`: light bias calibration.", ""]
            + table(["model", "setting", "ANN"] + [f"T={t}" for t in cols]
                    + ["T to 1 pt", "read-out from"], rows) + [""])


def torchvision_section(data):
    recs = quality_rows(data, "torchvision")
    out = ["## torchvision architectures on Fashion-MNIST 32x32 (analog input)", ""]
    if not recs:
        return out + missing("torchvision records", "run bench/test_quality.py -k torchvision")
    cols = columns(TORCHVISION_T, union_checkpoints(recs))
    targets = [t for t in TORCHVISION_TARGETS if t in cols]
    rows = [accuracy_row(r, cols) + [points(gap_at(r, t)) for t in targets]
            + [target_verdict(r, targets)] for r in recs]
    first = recs[0]
    out += [f"torchvision's own definitions made for 1x32x32 input (bench/models.py), on the "
            f"first {num(first.get('images'))} test images, thresholds from "
            f"{num(first.get('calibration'))} training images. `recipe`: "
            "`snncore.convert.low_latency_options(model, 32)` (its options are in the JSON); "
            "`recipe_ltb100`: the same with LTB thresholds from 100 batches in place of its own; "
            "`recipe_t8`, `recipe_t16`: `low_latency_options(model, 8)` and `(model, 16)`, the "
            "networks converted for 8 and 16 steps (read their own column); "
            "`percentile`: Rueckauer's 99.9th percentile per layer, for reference. Accuracy in % "
            "at T steps; `gap`: SNN minus ANN in points. The target, for the recipe: within "
            + " and ".join(f"{v:g} point{'s' if v != 1 else ''} at T={t}"
                           for t, v in TORCHVISION_TARGETS.items()) + ".", ""]
    return (out + table(["model", "setting", "ANN"] + [f"T={t}" for t in cols]
                        + [f"gap T={t}" for t in targets] + ["target"], rows) + [""])


def gap_at(record, t):
    """SNN minus ANN accuracy at T=t in percentage points, or None."""
    acc, ann = acc_at(record, t), record.get("ann_accuracy")
    return None if acc is None or ann is None else 100 * (acc - ann)


def points(v):
    return "-" if v is None else f"{v:+.2f}"


def target_verdict(record, targets):
    """'met', or what missed and by how much, for a row of the recipe made
    for the targets' steps (recipe, recipe_ltb100); '' otherwise."""
    if record.get("setting") not in (RECIPE, RECIPE_LTB100):
        return ""
    missed = []
    for t in targets:
        gap = gap_at(record, t)
        # 1e-9: one image out of N is a rounded fraction
        if gap is not None and gap < -TORCHVISION_TARGETS[t] - 1e-9:
            missed.append(f"T={t} by {-gap - TORCHVISION_TARGETS[t]:.2f}")
    return "missed: " + ", ".join(missed) if missed else "met"


def energy_section(data):
    recs = latest(data.of_kind("energy"), lambda r: (r.get("model"), r.get("simulator"),
                                                     r.get("setting")))
    out = ["## Energy per image against the ANN", ""]
    if not recs:
        return out + missing("energy records", "run bench/test_energy.py")
    first = recs[0]
    out += [f"Estimated with {num(first.get('e_ac', 0) * 1e12)} pJ per accumulate and "
            f"{num(first.get('e_mac', 0) * 1e12)} pJ per multiply-accumulate (45 nm CMOS): each "
            "synaptic operation of a spike is an accumulate; under analog input the first "
            "layer's multiply-accumulates are counted at every step "
            "(`snncore.estimate_energy`). SpikingJelly's operations count every spike's "
            "synapses through linear pooling (bench/peers.py), snncore's go through relay "
            "events: the two counts differ in convention.", ""]
    rows = []
    for r in recs:
        even = r.get("break_even_t")
        rows.append([r.get("model"), r.get("simulator"), r.get("setting"),
                     num(r.get("ann_macs_per_image")), num(_uj(r.get("ann_energy_j"))),
                     pct(r.get("ann_accuracy")), steps(r.get("t_within_1")),
                     num(r.get("energy_ratio_at")), num(_uj(r.get("energy_per_image_j_at"))),
                     steps(even) + ("" if even is None or r.get("break_even_exact") else " (~)"),
                     pct(r.get("accuracy_at_break_even"))])
    out += table(["model", "simulator", "setting", "ANN MACs/img", "ANN µJ", "ANN %",
                  "T to 1 pt", "SNN/ANN energy there", "SNN µJ there", "T where SNN = ANN energy",
                  "SNN % there"], rows) + [""]
    out += ["`T to 1 pt`: the first step within 1 point of the ANN (where absent, the energy "
            "columns are at the last step). `(~)`: between two recorded steps.", ""]
    for r in recs:
        per = r.get("per_projection")
        if not per:
            continue
        out += [f"**{r['model']}, {r['setting']}**: per projection at T={r.get('at_t')}", ""]
        body = [[name, p.get("kind"), num(p.get("operations")), num(_uj(p.get("joules"))),
                 num(p.get("ann_macs")), num(_uj(p.get("ann_macs", 0) * r.get("e_mac", 0)))]
                for name, p in per.items()]
        out += table(["projection", "counted as", "operations/img", "SNN µJ", "ANN MACs",
                      "ANN µJ"], body) + [""]
    return out


def _uj(joules):
    return None if joules is None else joules * 1e6


def claims_section(data):
    recs = latest(data.of_kind("claim"), lambda r: r.get("claim"))
    out = ["## The papers' claims on our data", ""]
    if not recs:
        return out + missing("claim records", "run bench/test_claims.py")
    out += ["Each claim as bench/test_claims.py states it, the runs that test it, and a "
            "verdict computed from the numbers (the first T within 1 point of the ANN decides "
            "who converges faster).", ""]
    for r in recs:
        cps = r.get("checkpoints") or union_checkpoints(r.get("rows") or [])
        cols = columns(CLAIM_T, cps)
        images = sorted({row.get("images") for row in r.get("rows") or [] if row.get("images")})
        out += [f"### {r.get('paper', '')}: {r.get('claim')}", "",
                f"Claim: {r.get('statement', '')}. Setup: {r.get('setup', '')}"
                + (f"; {' or '.join(num(n) for n in images)} test images." if images else "."),
                ""]
        rows = []
        for row in r.get("rows") or []:
            row = dict(row, checkpoints=cps)
            rows.append([row.get("model"), row.get("setting"), row.get("encoding", "-"),
                         pct(row.get("ann_accuracy"))]
                        + [pct(acc_at(row, t)) for t in cols]
                        + [steps(row.get("t_within_1")), steps(row.get("t_within_0_1"))])
        out += table(["model", "setting", "input", "ANN"] + [f"T={t}" for t in cols]
                     + ["T to 1 pt", "T to 0.1 pt"], rows) + [""]
        out += [f"**Verdict:** {r.get('verdict', 'none recorded')}", ""]
    return out


SPEED_KEYS = ("simulator", "model", "timesteps", "batch", "threads")


def speed_section(data, plot_link):
    recs = latest(data.of_kind("speed"), lambda r: tuple(r.get(k) for k in SPEED_KEYS))
    out = ["## Speed", ""]
    if not recs and not data.speed_targets:
        return out + missing("speed records", "run bench/test_speed.py")
    if recs:
        recs = sorted(recs, key=lambda r: (str(r.get("model")), r.get("timesteps") or 0,
                                           r.get("batch") or 0, r.get("threads") or 0,
                                           str(r.get("simulator"))))
        rows = [[r.get("model"), r.get("simulator"), steps(r.get("timesteps")),
                 steps(r.get("batch")), steps(r.get("threads")), num(r.get("images_per_s")),
                 pct(r.get("accuracy")), num(r.get("peak_rss_mb")),
                 _times(r.get("ratio_vs_spikingjelly")), _times(r.get("ratio_vs_sinabs")),
                 num(r.get("conv_synops_per_s_per_core"))] for r in recs]
        out += table(["model", "simulator", "T", "batch", "threads", "images/s", "accuracy %",
                      "peak RSS MB", "vs SpikingJelly", "vs sinabs", "conv synops/s/core"],
                     rows) + [""]
        if plot_link:
            out += [f"![images per second]({plot_link})", ""]
    if data.speed_targets:
        rows = [[t.get("target"), t.get("what"), t.get("measured"), t.get("goal") or "-",
                 {True: "yes", False: "no"}.get(t.get("met"), "-")] for t in data.speed_targets]
        out += ["Speed targets (bench/speed_targets.py):", ""]
        out += table(["#", "what", "measured", "target", "met"], rows) + [""]
    return out


RECIPE_SPEED_COMMAND = ("pytest bench/test_speed_recipes.py --benchmark-only "
                        "--benchmark-json=bench/results/speed_recipes.json")


def _ratio_cell(r):
    """A recipe_speed record's ratio to SpikingJelly: from alternating rounds
    with their range, or marked s when from two sequential timings."""
    ratio, rounds = r.get("ratio_vs_spikingjelly"), r.get("ratio_rounds")
    if ratio is None:
        return "-"
    if rounds:
        return f"{_times(ratio)} ({rounds['low']:.1f}-{rounds['high']:.1f})"
    return f"{_times(ratio)} s"


def _peer_rate(r, peer):
    """SpikingJelly's images/s beside a recipe_speed record: that of the
    alternating rounds the ratio came from, else its sequential timing."""
    rounds = r.get("ratio_rounds")
    return rounds.get("sj_images_per_s") if rounds else peer.get("images_per_s")


def recipe_speed_section(data):
    recs = latest(data.of_kind("recipe_speed"),
                  lambda r: tuple(r.get(k) for k in ("model", "simulator", "recipe", "isa",
                                                     "batch")))
    out = ["## Speed by kernel set and recipe", ""]
    if not recs:
        return out + missing("recipe speed records", "run bench/test_speed_recipes.py")
    first = recs[0]
    loads = [r["load_avg_1min"] for r in recs if r.get("load_avg_1min") is not None]
    out += [f"`{RECIPE_SPEED_COMMAND}`: T={first.get('timesteps')}, "
            f"{first.get('threads')} thread(s), batch 100 in one call and batch 1 one image at "
            "a time; SpikingJelly's best recipe on the same images in the same process; "
            "accuracy of both on the model's first test images at T; the ratio of the AVX2 and "
            "AVX-512 rows is the median (and range) of rounds that time snncore and "
            "SpikingJelly in turns, whose SpikingJelly median is in its column, the generic "
            "rows' (marked s) that of the two sequential timings"
            + (f"; 1-minute load average {min(loads):.2f} to {max(loads):.2f}." if loads
               else "."), ""]
    sj = {(r.get("model"), r.get("batch")): r for r in recs if r.get("simulator") != "snncore"}
    snn = sorted((r for r in recs if r.get("simulator") == "snncore"),
                 key=lambda r: (str(r.get("model")), str(r.get("recipe")), -(r.get("batch") or 0),
                                str(r.get("isa"))))
    rows = []
    for r in snn:
        peer = sj.get((r.get("model"), r.get("batch")), {})
        met = {True: "yes", False: "NO"}.get(r.get("target_met"), "-")
        rows.append([r.get("model"), r.get("recipe"), r.get("isa"), steps(r.get("batch")),
                     num(r.get("images_per_s")), num(_peer_rate(r, peer)),
                     _ratio_cell(r), f"{r.get('target')}: {met}",
                     f"{pct(r.get('accuracy'))} / {pct(peer.get('accuracy'))}",
                     num(r.get("spikes_per_image")), num(r.get("synops_per_image")),
                     "yes" if r.get("identical_to_generic", True) else "NO"])
    out += table(["model", "recipe", "kernels", "batch", "images/s", "SpikingJelly images/s",
                  "ratio", "target", "accuracy % (snncore / SJ)", "spikes/image",
                  "synops/image", "same bits as generic"], rows) + [""]
    costs = [r for r in snn if r.get("projections")]
    if costs:
        out += ["Cost of each projection at batch 100 (one profiled run on one thread): "
                "synaptic operations and source events per image, ns per synaptic operation "
                "and per event.", ""]
        rows = [[r.get("model"), r.get("recipe"), r.get("isa"), name, p.get("op"),
                 num(p.get("synops_per_image")), num(p.get("events_per_image")),
                 num(p.get("ns_per_synop")), num(p.get("ns_per_event"))]
                for r in costs for name, p in r["projections"].items()
                if p.get("seconds")]
        out += table(["model", "recipe", "kernels", "projection", "op", "synops/image",
                      "events/image", "ns/synop", "ns/event"], rows) + [""]
        out += projection_kind_table(costs)
    return out


# Dense convolutions are grouped by their input channels: (upper bound, label).
CHANNEL_BANDS = ((16, "< 16"), (32, "16-31"), (64, "32-63"), (None, ">= 64"))
POOLING_OPS = ("avgpool2d", "maxpool2d", "sumpool2d")
KIND_ORDER = tuple(f"conv, {label} input channels" for _, label in CHANNEL_BANDS) + (
    "strided conv", "1x1 conv", "depthwise/grouped conv", "pooling",
    "identity (junction shortcut)", "dense (linear)")


def _kind_rank(kind):
    base = kind.removesuffix(", from a relay").removesuffix(", signed")
    return (KIND_ORDER.index(base) if base in KIND_ORDER else len(KIND_ORDER), kind)


def projection_kind(p):
    """What kind of projection a profile entry (evaluation.projection_costs)
    is: depthwise/grouped, 1x1 or strided conv, a dense conv by its input
    channels, pooling, identity (a junction's shortcut), dense (linear);
    ", signed" when its source fires negative spikes too, ", from a relay"
    when its source is a relay (graded events, as many as the relay has
    non-zero neurons each step)."""
    op = p.get("op")
    if op == "conv2d":
        if p.get("in_channels") is None:
            kind = "conv (shape not recorded)"
        elif (p.get("groups") or 1) > 1:
            kind = "depthwise/grouped conv"
        elif list(p.get("kernel") or []) == [1, 1]:
            kind = "1x1 conv"
        elif any(v != 1 for v in p.get("stride") or [1]):
            kind = "strided conv"
        else:
            band = next(label for bound, label in CHANNEL_BANDS
                        if bound is None or p["in_channels"] < bound)
            kind = f"conv, {band} input channels"
    elif op in POOLING_OPS:
        kind = "pooling"
    elif op == "identity":
        kind = "identity (junction shortcut)"
    elif op == "dense":
        kind = "dense (linear)"
    else:
        kind = str(op)
    return kind + (", signed" if p.get("signed") else "") + (
        ", from a relay" if p.get("source_kind") == "relay" else "")


def projection_kind_table(costs):
    """Synaptic operations per second per core and ns per event of each
    projection kind, per kernel set and recipe, over the models' profiles
    (recipe_speed records at batch `batch`, one thread)."""
    groups = {}
    for r in costs:
        images = r.get("batch") or 1
        for p in r["projections"].values():
            if not p.get("seconds"):
                continue
            g = groups.setdefault((r.get("isa"), r.get("recipe"), projection_kind(p)),
                                  {"seconds": 0.0, "synops": 0.0, "events": 0.0, "n": 0,
                                   "models": set()})
            g["seconds"] += p["seconds"]
            g["synops"] += p.get("synops_per_image", 0) * images
            g["events"] += p.get("events_per_image", 0) * images
            g["n"] += 1
            g["models"].add(r.get("model"))
    rows = [[isa, recipe, kind, f"{g['n']} ({', '.join(sorted(map(str, g['models'])))})",
             num(g["synops"] / g["seconds"]), num(1e9 * g["seconds"] / g["events"])
             if g["events"] else "-"]
            for (isa, recipe, kind), g in sorted(groups.items(), key=lambda kv: (
                str(kv[0][0]), str(kv[0][1]), _kind_rank(kv[0][2])))]
    return (["The same profiles by projection kind (issue 15): synaptic operations per second "
             "per core and ns per source event, summed over the models' projections of that "
             "kind. The convolutions with fewer than 16 input channels are the input layers, "
             "fed analog values (no events); the profile gives pooling no time of its own.", ""]
            + table(["kernels", "recipe", "kind", "projections (models)", "synops/s/core",
                     "ns/event"], rows) + [""])


def maxpool_study_section(data):
    """One table per model of the max pooling study, in the order first seen."""
    recs = latest(data.of_kind("maxpool_study"), lambda r: (r.get("model"), r.get("variant")))
    out = ["## Max pooling: the ways of converting it", ""]
    if not recs:
        return out + missing("max pooling study records", "run bench/test_maxpool_study.py")
    out += ["bench/test_maxpool_study.py, analog input. Accuracy in % at T steps; the last "
            "column is the first T within 1 point of the ANN. `thresholds`: `percentile` "
            "(snncore's default), `low latency` (`low_latency_options`: the options are "
            "listed under each table) or `own` (SpikingJelly's converter sets them). The "
            "simulator's rows run on the thresholds, initial membranes, calibrated biases "
            "and read-out start of the `snncore spike` row with the same thresholds.", ""]
    for model in dict.fromkeys(r.get("model") for r in recs):
        out += _maxpool_model_table([r for r in recs if r.get("model") == model])
    return out


def _maxpool_model_table(recs):
    """The max pooling study's table and notes for one model's records."""
    first = recs[0]
    cols = columns(MAXPOOL_T, union_checkpoints(recs))
    out = [f"**{first.get('model')}**: ANN {pct(first.get('ann_accuracy'))}% on the first "
           f"{num(first.get('images'))} test images; thresholds from "
           f"{num(first.get('calibration'))} training images.", ""]
    rows = [[r.get("variant"), r.get("runner"), r.get("thresholds", "-")]
            + [pct(acc_at(r, t)) for t in cols] + [steps(r.get("t_within_1"))] for r in recs]
    out += table(["variant", "run by", "thresholds"] + [f"T={t}" for t in cols]
                 + ["T to 1 pt"], rows)
    described = {}          # description -> the variants it describes (a rule on two
    for r in recs:          # threshold sets is one line)
        described.setdefault(r.get("description"), []).append(f"`{r.get('variant')}`")
    out += [""] + [f"- {', '.join(names)}: {what}" for what, names in described.items()] + [""]
    low = next((r for r in recs if r.get("runner") == "snncore"
                and r.get("thresholds") == "low latency"), None)
    if low:
        options = ", ".join(f"{k}={v!r}" for k, v in (low.get("options") or {}).items()
                            if k != "maxpool")
        out += [f"`low latency` on {first.get('model')}: {options}.", ""]
    avg = next((r for r in recs if r.get("ann_avg_pool_accuracy") is not None), None)
    if avg:
        out += [f"The ANN with its max pooling swapped for average pooling (what "
                f"`{avg.get('variant')}` converts): {pct(avg['ann_avg_pool_accuracy'])}%.", ""]
    for r in recs:
        agreement = r.get("agreement")
        if agreement:
            engine = agreement.get("engine_variant", "snncore spike")
            out += [f"Simulator check (`{r.get('variant')}` against `{engine}`): the "
                    f"accuracies differ by at most {agreement['max_accuracy_gap_points']:.2f} "
                    f"points (allowed {agreement['tolerance_points']:.2f}); at every T the "
                    f"predictions agree on at least "
                    f"{pct(min(agreement['prediction_agreement']))}% of the images; read-outs "
                    f"differ by at most "
                    f"{agreement['max_relative_readout_difference']:.1e} of their largest "
                    "value.", ""]
    return out


def detection_section(data, plot_link):
    """The spiking Tiny-YOLO (bench/detection_study.py): mAP against T per ablation row."""
    doc = data.single.get("detection")
    out = ["## Object detection: a spiking Tiny-YOLO and Spiking-YOLO's ablation", ""]
    if not doc:
        return out + missing_single("detection")
    info, ann, target = doc.get("model_info") or {}, doc["ann"], doc.get("target") or {}
    test = (doc.get("data") or {}).get("test") or {}
    out += [f"Fashion-MNIST items (1 to 4, varied size and place, overlapping) on cluttered "
            f"{(doc.get('data') or {}).get('settings', {}).get('canvas', '?')}-pixel canvases "
            f"(bench/detection_data.py); a Tiny-YOLO-style detector (conv, BatchNorm, leaky "
            f"ReLU {info.get('leaky_slope', 0.1)}, max pooling, an upsampled second scale, "
            f"one grid head; {num(info.get('parameters'))} parameters, trained in "
            f"{num(info.get('train_seconds'))} s on the CPU). mAP by pycocotools' COCOeval. "
            f"ANN: mAP@0.5 {pct(ann['all_test']['map50'])}%, mAP@0.5:0.95 "
            f"{pct(ann['all_test']['map50_95'])}% on the {num(test.get('canvases'))} test "
            f"canvases; {pct(ann['snn_images']['map50'])}% / "
            f"{pct(ann['snn_images']['map50_95'])}% on the first {num(doc.get('snn_images'))}, "
            "which the SNNs run on (the ANN with its leaky ReLUs swapped for ReLU, what the "
            f"plain-IF rows converge to: {pct(ann['relu_twin_snn_images']['map50'])}% / "
            f"{pct(ann['relu_twin_snn_images']['map50_95'])}%). Thresholds from "
            f"{num(doc.get('calibration_images'))} training canvases; analog input; the head "
            "accumulates membrane and its mean at each checkpoint goes through the ANN's box "
            f"decoding and NMS. Max pooling: `{doc.get('maxpool')}`.", ""]
    rows = doc["rows"]
    cols = columns(DETECTION_T, union_checkpoints(rows))

    def at(r, key, t):
        cps = r.get("checkpoints") or []
        return r[key][cps.index(t)] if t in cps else None

    for key, title in (("map50", "mAP@0.5"), ("map50_95", "mAP@0.5:0.95")):
        out += [f"{title} in % at T steps; the last column is the first T at which the SNN "
                "reaches 98% of the ANN's value (within 2%):", ""]
        body = [[r["setting"], r.get("neurons", "-")] + [pct(at(r, key, t)) for t in cols]
                + [steps(r.get(f"t_within_2pct_{key}"))] for r in rows]
        out += table(["setting", "neurons"] + [f"T={t}" for t in cols] + ["T to 98%"],
                     body) + [""]
    if target:
        out += [f"**Target**: at least {pct(target.get('fraction'))}% of the ANN's mAP@0.5 "
                f"at some T <= {target.get('max_t')} with the low-latency recipe: "
                + ("met" if target.get("met") else "missed") + ". "
                + "; ".join(f"{row}: " + (f"at T = {', '.join(map(str, ts))}" if ts
                                          else "not reached")
                            for row, ts in (target.get("met_at") or {}).items()) + ".", ""]
    paper = doc.get("paper") or {}
    if paper:
        out += [f"Spiking-YOLO's own figure beside these (Kim et al. 2020, {paper.get('model')} "
                f"on {paper.get('dataset')}, {paper.get('note')}): the SNN reaches "
                f"{round(100 * paper['fraction'])}% of the ANN's mAP after "
                f"{paper.get('timesteps')} of timesteps.", ""]
    for r in rows:
        if r.get("refusal_of_leaky_model"):
            out += [f"SpikingJelly 2.0 on the leaky-ReLU detector itself refuses it: "
                    f"`{r['refusal_of_leaky_model']}`. Its row converts the ReLU twin (the "
                    "same weights with ReLU), as the plain-IF rows do.", ""]
    if plot_link:
        out += [f"![mAP against timesteps]({plot_link})", ""]
    grid = doc.get("grid") or {}
    if grid.get("path"):
        out += [f"The first {grid.get('canvases')} test canvases: ground truth, the ANN's boxes "
                f"and the SNN's ({grid.get('row')}) at T = "
                f"{' and '.join(map(str, grid.get('timesteps') or []))}, scores above "
                f"{grid.get('score_threshold')}:", "",
                f"![ANN and SNN boxes]({grid['path']})", ""]
    return out


def _times(v):
    return "-" if v is None else f"{v:.1f}x"


def _ratio(v):
    return "-" if v is None else f"{v:.2f}x"


def time_to_accuracy_records(data):
    """The time-to-accuracy records of each model: pytest-benchmark's, then
    time_to_accuracy.json's (the later wins)."""
    doc = data.single.get("time_to_accuracy") or {}
    return latest(data.of_kind("time_to_accuracy") + list(doc.get("models") or []),
                  lambda r: r.get("model"))


def time_to_accuracy_section(data):
    out = ["## Time to accuracy against the ANN runtimes", ""]
    recs = time_to_accuracy_records(data)
    if not recs:
        return out + missing_single("time_to_accuracy")
    doc = data.single.get("time_to_accuracy") or {}
    loads = [row["load_avg_1min"] for r in recs for row in r.get("rows") or []
             if row.get("load_avg_1min") is not None]
    first = recs[0]
    out += [f"`{SINGLE_FILES['time_to_accuracy']}`: snncore's low-latency recipe tuned at each "
            f"T of {', '.join(map(str, first.get('ladder') or []))}, up to the first within "
            f"{first.get('points')} points of the ANN on the model's first "
            "test images; at that T, onnxruntime (CPU provider) and PyTorch running the ANN and "
            "snncore running the SNN, in one process in alternating rounds (medians), on the "
            "same threads; batch 100 in one call, batch 1 one image at a time"
            + (f"; 1-minute load average {min(loads):.2f} to {max(loads):.2f}" if loads else "")
            + (f", {doc['seconds']:.0f} s in all." if doc.get("seconds") else "."), ""]
    rows = []
    for r in recs:
        reached = "" if r.get("reached") else " (not reached: the ladder's best)"
        for row in r.get("rows") or []:
            rows.append([r.get("model"), f"{r.get('timesteps')}{reached}",
                         f"{pct(r.get('snn_accuracy'))} / {pct(r.get('ann_accuracy'))}",
                         row.get("threads"), row.get("batch"),
                         num(row.get("onnxruntime_images_per_s")),
                         num(row.get("pytorch_images_per_s")),
                         num(row.get("snncore_images_per_s")),
                         _ratio(row.get("ratio_vs_onnxruntime")),
                         _ratio(row.get("ratio_vs_pytorch")),
                         _ann_runtime_verdict(r, row), num(row.get("load_avg_1min"))])
    out += table(["model", "T", "accuracy % (SNN / ANN)", "threads", "batch",
                  "onnxruntime images/s", "PyTorch images/s", "snncore images/s",
                  "snncore / onnxruntime", "snncore / PyTorch", "target", "load"], rows) + [""]
    out += ["Accuracy (%) of the recipe at each T tried: "
            + "; ".join(f"{r.get('model')} " + ", ".join(
                f"T={t}: {pct(a)}" for t, a in (r.get("tried") or {}).items())
                for r in recs) + ".", ""]
    for r in recs:
        out += _where_time_goes(r)
    return out


def _ann_runtime_verdict(record, row):
    """'>= 0.8x onnxruntime ...: yes/NO' for the target model, '-' elsewhere."""
    from speed_targets import ANN_RUNTIME_TARGET

    if not record.get("target") or row.get("ratio_vs_onnxruntime") is None:
        return "-"
    met = row["ratio_vs_onnxruntime"] >= ANN_RUNTIME_TARGET
    return f">= {ANN_RUNTIME_TARGET:g}x: {'yes' if met else 'NO'}"


def _where_time_goes(record):
    """The SNN's profile at batch 100 on one thread (each projection beside the
    ANN's multiply-accumulates of the same layer, then each population's
    passes), and onnxruntime's profile of the ANN per node."""
    prof, passes = record.get("profile") or {}, record.get("passes") or {}
    images = record.get("profile_images") or max(
        (row.get("images") for row in record.get("rows") or [] if (row.get("batch") or 0) > 1),
        default=None)
    total = sum(p.get("seconds") or 0 for p in prof.values()) + sum(passes.values())
    if not total or not images:
        return []

    def us(seconds):
        return num(1e6 * seconds / images)

    rows = [[name, projection_kind(p), num(p.get("ann_macs")), num(p.get("synops_per_image")),
             num(p.get("events_per_image")), us(p["seconds"]),
             f"{100 * p['seconds'] / total:.0f}%"]
            for name, p in prof.items() if p.get("seconds")]
    rows += [[name, "population pass", "", "", "", us(sec), f"{100 * sec / total:.0f}%"]
             for name, sec in passes.items()]
    wall = record.get("profile_wall_seconds")
    out = [f"**{record.get('model')}** at T={record.get('timesteps')}, where the time goes "
           f"(batch of {images} on one thread). snncore, the engine's profile: "
           f"{us(total)} µs an image in its parts"
           + (f", {us(wall)} µs wall" if wall else "") + ":", ""]
    out += table(["snncore", "kind", "ANN MACs/image", "synops/image", "events/image",
                  "µs/image", "share"], rows) + [""]
    ann = record.get("ann_profile") or {}
    ann_total = sum(n.get("us_per_image") or 0 for n in ann.values())
    if ann_total:
        out += [f"onnxruntime, its own profile: {num(ann_total)} µs an image in its nodes:", ""]
        out += table(["onnxruntime node", "op", "µs/image", "share"],
                     [[name, n.get("op"), num(n.get("us_per_image")),
                       f"{100 * (n.get('us_per_image') or 0) / ann_total:.0f}%"]
                      for name, n in ann.items()]) + [""]
    return out


def side_files_section(data):
    out = ["## Conversion settings on the benchmark models, beside SpikingJelly", ""]
    if not data.sweeps and not data.peers:
        return out + missing("sweep_*.json or peers_*.json files",
                             "run bench/conversion_sweep.py MODEL --json "
                             "bench/results/sweep_MODEL.json and bench/peers.py --json "
                             "bench/results/peers_MODEL.json")
    for doc in data.sweeps:
        ts = doc.get("timesteps") or []
        out += [f"**{doc.get('model')}** (bench/conversion_sweep.py, "
                f"{os.path.basename(doc['_path'])}): ANN {pct(doc.get('ann_accuracy'))}% on "
                f"{num(doc.get('images'))} test images, calibration {num(doc.get('calibration'))} "
                f"images, {doc.get('input', 'analog')} input.", ""]
        rows = [[r.get("setting")] + [pct(a) for a in (r.get("accuracy") or [])]
                + [""] * (len(ts) - len(r.get("accuracy") or []))
                + [steps(r.get("readout_start")), num(r.get("spikes_per_image_at_max_T")),
                   num(r.get("seconds"))]
                for r in doc["rows"]]
        out += table(["setting"] + [f"T={t}" for t in ts]
                     + ["read-out from", f"spikes/img at T={max(ts, default='-')}", "seconds"],
                     rows) + [""]
    for doc in data.peers:
        cps = doc.get("checkpoints") or []
        out += [f"**{doc.get('model')}** (bench/peers.py, {os.path.basename(doc['_path'])}): "
                f"first {num(doc.get('images'))} test images, calibration "
                f"{num(doc.get('calibration_images'))}, {doc.get('threads')} threads; accuracy "
                f"in %, counts per image at T={doc.get('T')}.", ""]
        rows = []
        for r in doc["rows"]:
            acc = r.get("accuracy") or []
            sp, so = r.get("spikes_per_image"), r.get("synaptic_ops_per_image")
            speed = r.get("images_per_s") or {}
            rows.append([r.get("name")] + [pct(a) for a in acc] + [""] * (len(cps) - len(acc))
                        + [num(sp[-1]) if sp else "-", num(so[-1]) if so else "-",
                           num(speed.get("1")), num(speed.get("100"))])
        out += table(["simulator"] + [f"T={t}" for t in cps]
                     + ["spikes/img", "synaptic ops/img", "images/s b1", "images/s b100"],
                     rows) + [""]
    return out


def tracking_section(data):
    out = ["## torchvision's classifiers: conversion verdicts and tracking", ""]
    if not data.trackings:
        return out + missing("tracking_*.json files",
                             "run bench/torchvision_tracking.py --json "
                             "bench/results/tracking_torchvision.json")
    for doc in data.trackings:
        out += [f"bench/torchvision_tracking.py ({os.path.basename(doc['_path'])}): random "
                f"weights, BatchNorm settled on {num(doc.get('images'))} random images, "
                f"percentile thresholds, T={doc.get('steps')}; the SNN against its ANN on as "
                "many fresh random images.", ""]
        rows = []
        for r in doc["rows"]:
            size = f"{r.get('size')}x{r.get('size')}"
            if r.get("verdict") == "converts":
                rows.append([r.get("model"), size, "converts", pct(r.get("argmax_agreement")),
                             f"{r.get('correlation', float('nan')):.4f}", num(r.get("neurons"))])
            else:
                rows.append([r.get("model"), size, f"refused: {r.get('reason')}", "", "", ""])
        out += table(["model", "input", "verdict", "argmax agreement %", "logit correlation",
                      "neurons"], rows) + [""]
    return out


def nir_peer_section(data):
    out = ["## NIR exchange with sinabs", ""]
    doc = data.single.get("nir_peer")
    if not doc:
        return out + missing_single("nir_peer")
    ex, im = doc.get("export", {}), doc.get("import", {})
    out += [f"{doc.get('model')} with {doc.get('peer')} (bench/nir_peer.py, docs/nir.md): the "
            f"first {num(ex.get('images'))} Fashion-MNIST test images, T={ex.get('timesteps')}, "
            "analog input.", "",
            f"**Export** (snncore's conversion, `snncore.nir.to_nir`, run by sinabs): snncore "
            f"{pct(ex.get('snncore_accuracy'))}%, {num(ex.get('snncore_spikes_per_image'))} "
            f"spikes per image; the round trip `from_nir(to_nir(net))` "
            f"{'runs identically' if ex.get('round_trip_identical') else 'DIFFERS'}.", ""]
    rows = []
    for key, label in (("sinabs", "sinabs, its own IF rule"),
                       ("sinabs_snncore_rule", "sinabs, one spike a step, no floor")):
        r = ex.get(key) or {}
        rows.append([label, pct(r.get("accuracy")), pct(r.get("same_prediction")),
                     num(r.get("spikes_per_image")),
                     f"{100 * r['spike_count_difference']:.3f}%"
                     if r.get("spike_count_difference") is not None else "-",
                     f"{r['max_output_difference']:.2g}"
                     if r.get("max_output_difference") is not None else "-"])
    out += table(["simulator", "accuracy %", "same prediction as snncore %", "spikes/img",
                  "spike counts off (of snncore's)", "largest output difference"], rows) + [""]
    out += [f"**Import** (sinabs's conversion, `sinabs.nir.to_nir`, nodes "
            f"{', '.join(im.get('node_types') or [])}, run by snncore after "
            "`snncore.nir.from_nir`):", ""]
    out += table(["simulator", "accuracy %", "images/s"],
                 [["sinabs", pct(im.get("sinabs_accuracy")),
                   num(im.get("sinabs_images_per_second"))],
                  ["snncore", pct(im.get("snncore_accuracy")),
                   num(im.get("snncore_images_per_second"))]]) + [""]
    out += [f"Same prediction on {pct(im.get('same_prediction'))}% of the images; snncore runs "
            f"sinabs's network {_times(im.get('speedup'))} as fast (median of 3 runs of the "
            f"first {num(im.get('speed_images'))} images, {im.get('threads')} threads each).", ""]
    return out


def dask_section(data):
    out = ["## Dask workers", ""]
    doc = data.single.get("dask_scaling")
    if not doc:
        return out + missing_single("dask_scaling")
    out += [f"`snncore.distributed.run` on a LocalCluster of single-threaded worker processes "
            f"(bench/dask_scaling.py, docs/distributed.md): {doc.get('model')}, "
            f"{num(doc.get('images'))} test images, T={doc.get('timesteps')}, "
            f"{num(doc.get('blocks'))} blocks of {num(doc.get('block'))} images; medians of "
            f"{doc.get('repeats')} runs on a shared {doc.get('cpus')}-CPU machine.", ""]
    rows = [["local, 1 thread (Network.run)", num(doc.get("local_1_thread_images_per_second")),
             "-", "-", "-"]]
    for n, r in sorted((doc.get("workers") or {}).items()):
        rows.append([f"{n} worker{'s' if n != '1' else ''}", num(r.get("images_per_second")),
                     "yes" if r.get("identical_to_local") else "NO",
                     f"{r['overhead_ms_per_block']:.1f}"
                     if r.get("overhead_ms_per_block") is not None else "-",
                     pct(r.get("busy_fraction"))])
    out += table(["run", "images/s", "identical to local", "overhead ms/block",
                  "workers busy %"], rows) + [""]
    if doc.get("speedup_2_over_1") is not None:
        out += [f"Two workers: {doc['speedup_2_over_1']:.2f}x one worker, a scaling efficiency "
                f"of {100 * doc['scaling_efficiency']:.0f}%.", ""]
    load = [doc.get("load_average_before"), doc.get("load_average_after")]
    if None not in load:
        busy = max(load) > (doc.get("cpus") or 1)
        out += [f"Load average of the machine (1 minute): {load[0]:.1f} before, {load[1]:.1f} "
                f"after, on {doc.get('cpus')} CPUs"
                + ("; other jobs held the CPUs, so a second worker had no free core to run on: "
                   "rerun on an idle machine for the scaling figure." if busy else "."), ""]
    return out


# -- plots ---------------------------------------------------------------------------

def make_plots(data, plots_dir):
    """Write the PNGs; returns {name: path} of those written ({} without matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return {}
    os.makedirs(plots_dir, exist_ok=True)
    written = {}
    quality = data.of_kind("quality")
    for model in sorted({r.get("model") for r in quality}):
        path = os.path.join(plots_dir, f"accuracy_{model}.png")
        plot_accuracy(plt, [r for r in quality if r.get("model") == model], model, path)
        written[f"accuracy_{model}"] = path
    energy = data.of_kind("energy")
    if energy:
        path = os.path.join(plots_dir, "energy_accuracy.png")
        plot_energy(plt, energy, path)
        written["energy_accuracy"] = path
    if data.single.get("detection"):
        path = os.path.join(plots_dir, "detection_map.png")
        plot_detection(plt, data.single["detection"], path)
        written["detection_map"] = path
    speed = data.of_kind("speed")
    if speed:
        path = os.path.join(plots_dir, "throughput.png")
        plot_throughput(plt, speed, path)
        written["throughput"] = path
    return written


def _panels(records):
    """Panels of an accuracy plot: (title, records), matrix by encoding, then low latency."""
    out = []
    for enc in ("analog", "poisson", "regular"):
        mine = [r for r in records if r.get("group") == "matrix" and r.get("encoding") == enc]
        if mine:
            out.append((f"all methods, {enc} input", mine))
    mine = [r for r in records if r.get("group") == "low_latency"]
    if mine:
        out.append(("low-latency settings, analog input", mine))
    mine = [r for r in records if r.get("group") == "torchvision"]
    if mine:
        out.append(("low-latency recipe and percentile, analog input", mine))
    return out


def _grid(plt, n, width, height):
    """A figure with n panels, at most two per row; (fig, list of n axes)."""
    cols = min(2, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_accuracy(plt, records, model, path):
    """Accuracy (%) against T (log 2) per setting, the ANN as a dotted line;
    one colour per method or setting, dashed for reset to zero."""
    panels = _panels(latest(records, lambda r: (r.get("group"), r.get("setting"),
                                                r.get("reset"), r.get("encoding"))))
    fig, axes = _grid(plt, len(panels), 6.5, 4.5)
    colours = plt.get_cmap("tab10").colors
    for ax, (title, recs) in zip(axes, panels):
        names = []
        for r in recs:
            matrix = r.get("group") == "matrix"
            name = r.get("method") if matrix else r.get("setting")
            if name not in names:
                names.append(name)
            label = f"{name}, {r.get('reset')}" if matrix else name
            style = "--" if r.get("reset") == "zero" else "-"
            ax.plot(r["checkpoints"], [100 * a for a in r["accuracy"]], style, marker=".",
                    color=colours[names.index(name) % len(colours)], label=label)
        ax.set_xscale("log", base=2)
        _finish_panel(ax, recs[0].get("ann_accuracy"), "timesteps T", f"{model}: {title}")
    _save(plt, fig, path)


def _finish_panel(ax, ann, xlabel, title):
    """The ANN's accuracy as a dotted line (if known), labels, grid and legend."""
    if ann is not None:
        ax.axhline(100 * ann, color="black", linestyle=":", label=f"ANN {100 * ann:.2f}%")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy %")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _save(plt, fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_energy(plt, records, path):
    """Accuracy (%) against SNN/ANN energy (log), one panel per model."""
    models = sorted({r.get("model") for r in records})
    fig, axes = _grid(plt, len(models), 6, 4.2)
    for ax, model in zip(axes, models):
        mine = [r for r in records if r.get("model") == model]
        for r in mine:
            sim, setting = r.get("simulator"), r.get("setting")
            ax.plot(r["energy_ratio"], [100 * a for a in r["accuracy"]], marker=".",
                    markersize=3, label=sim if setting == sim else f"{sim}: {setting}")
        ax.axvline(1.0, color="grey", linestyle="--", label="ANN energy")
        ax.set_xscale("log")
        _finish_panel(ax, mine[0].get("ann_accuracy"), "energy per image, SNN / ANN", model)
    _save(plt, fig, path)


def plot_detection(plt, doc, path):
    """mAP@0.5 and mAP@0.5:0.95 (%) against T (log 2) per row, the ANN dotted."""
    fig, axes = _grid(plt, 2, 6.5, 4.5)
    for ax, key, title in zip(axes, ("map50", "map50_95"), ("mAP@0.5", "mAP@0.5:0.95")):
        for r in doc["rows"]:
            style = "--" if r.get("neurons") == "plain IF" else "-"
            ax.plot(r["checkpoints"], [100 * v for v in r[key]], style, marker=".",
                    label=r["setting"])
        ann = doc["ann"]["snn_images"][key]
        ax.axhline(100 * ann, color="black", linestyle=":", label=f"ANN {100 * ann:.2f}%")
        fraction = (doc.get("target") or {}).get("fraction", 0.98)
        ax.axhline(100 * fraction * ann, color="grey", linestyle=":", linewidth=0.8,
                   label=f"{100 * fraction:g}% of the ANN")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("timesteps T")
        ax.set_ylabel(f"{title} %")
        ax.set_title(f"{doc.get('model')}: {title} (dashed: plain IF)", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(plt, fig, path)


def plot_throughput(plt, records, path):
    """Images/s bars (log scale): one group per (model, T, batch, threads), a bar per simulator."""
    recs = latest(records, lambda r: tuple(r.get(k) for k in SPEED_KEYS))
    recs = [r for r in recs if r.get("images_per_s")]
    groups = sorted({(str(r.get("model")), r.get("timesteps") or 0, r.get("batch") or 0,
                      r.get("threads") or 0) for r in recs})
    sims = sorted({str(r.get("simulator")) for r in recs})
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) + 2), 4.5))
    width = 0.8 / max(1, len(sims))
    for k, sim in enumerate(sims):
        xs, ys = [], []
        for i, g in enumerate(groups):
            for r in recs:
                if str(r.get("simulator")) == sim and (str(r.get("model")), r.get("timesteps") or 0,
                                                       r.get("batch") or 0,
                                                       r.get("threads") or 0) == g:
                    xs.append(i + k * width)
                    ys.append(r["images_per_s"])
        ax.bar(xs, ys, width, label=sim)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(groups))])
    ax.set_xticklabels([f"{m}\nT={t} b{b} t{th}" for m, t, b, th in groups], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("images per second")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    _save(plt, fig, path)


# -- the document ------------------------------------------------------------------------

def render(data, plots, out_path):
    """The Markdown text; `plots` from make_plots (links relative to out_path)."""
    base = os.path.dirname(os.path.abspath(out_path))

    def link(name):
        return os.path.relpath(plots[name], base) if name in plots else None

    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# snncore benchmark results", "",
             "Written by `bench/report.py` from pytest-benchmark JSON; do not edit by hand.", ""]
    lines += machine_section(data, generated)
    lines += quality_matrix_section(data)
    lines += low_latency_section(data)
    lines += torchvision_section(data)
    accuracy_plots = sorted(n for n in plots if n.startswith("accuracy_"))
    if accuracy_plots:
        lines += ["Accuracy against timesteps (dashed: reset to zero; dotted: the ANN):", ""]
        lines += [f"![{n}]({link(n)})" for n in accuracy_plots] + [""]
    lines += energy_section(data)
    if "energy_accuracy" in plots:
        lines += [f"![accuracy against energy]({link('energy_accuracy')})", ""]
    lines += claims_section(data)
    lines += maxpool_study_section(data)
    lines += speed_section(data, link("throughput"))
    lines += recipe_speed_section(data)
    lines += time_to_accuracy_section(data)
    lines += side_files_section(data)
    lines += tracking_section(data)
    lines += nir_peer_section(data)
    lines += dask_section(data)
    lines += detection_section(data, link("detection_map"))
    if not plots:
        lines += ["_No plots: matplotlib is not installed, or there was nothing to plot._", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", nargs="*",
                        help="pytest-benchmark JSON files (default: those of DEFAULT_INPUTS "
                             "in --results-dir that exist)")
    parser.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    parser.add_argument("--plots", default=os.path.join(HERE, "plots"))
    parser.add_argument("--results-dir", default=os.path.join(HERE, "results"),
                        help="where to look for sweep_*.json, peers_*.json and "
                             "tracking_*.json")
    args = parser.parse_args(argv)
    data = Data()
    inputs = args.json or [p for p in (os.path.join(args.results_dir, f) for f in DEFAULT_INPUTS)
                           if os.path.exists(p)]
    for path in inputs:
        read_benchmark_json(data, path)
    read_side_files(data, args.results_dir)
    read_single_files(data, args.results_dir)
    plots = make_plots(data, args.plots)
    text = render(data, plots, args.out)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(f"report: {args.out} ({len(data.records)} records, {len(plots)} plots in "
          f"{args.plots})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
