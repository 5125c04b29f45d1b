"""Issue 6's six speed targets, as a table: measured value, target, met or not.

The table is derived from the ``extra_info`` records that bench/test_speed.py
writes (kinds "speed", "memory" and "kernel"); nothing here measures. Two ways
to see it:

- at the end of ``pytest bench/ --benchmark-only -k speed``: test_speed.py
  registers `SummaryPlugin`, which prints the table in pytest's terminal
  summary and adds it to the JSON file under the key "speed_targets";
- afterwards, from a saved JSON file:
  ``python bench/speed_targets.py bench/results/speed.json``.

The targets are recorded, never asserted (the machine is shared; wall-clock
figures move with the load). What the tests do assert are the bit-identities
(threads 1 vs 2, generic vs AVX2 kernels).
"""

import json
import sys

# Issue 6's thresholds.
RATIO_SJ_BATCH = 10.0       # snncore >= 10x SpikingJelly at batch 100
RATIO_SJ_SINGLE = 20.0      # snncore >= 20x SpikingJelly at batch 1
RATIO_SINABS_SINGLE = 8.0   # snncore >= 8x sinabs at batch 1
TARGET_TIMESTEPS = (16, 64)  # the peer targets hold at these T
CONV_RATE = 8e9             # executed conv synaptic multiply-adds per second per core
THREAD_SCALING = 1.8        # 2 threads vs 1 at batch 100
BIG_BATCH = 100             # the batch the batch-100 targets mean
# Issue 15: snncore at its ANN's accuracy (bench/time_to_accuracy.py) reaches
# this share of onnxruntime's ANN throughput on this model, at batch 100 and 1.
ANN_RUNTIME_TARGET = 0.8
ANN_RUNTIME_MODEL = "fashion_cnn"


def recipe_target(batch):
    """The least snncore / SpikingJelly ratio of every bench model under each
    kernel set and conversion recipe (bench/test_speed_recipes.py) at `batch`."""
    return RATIO_SJ_SINGLE if batch == 1 else RATIO_SJ_BATCH


def memory_flat(small_mb, big_mb):
    """True when the peak RSS increase of the bigger batch stays within
    max(5 MB, 10 %) of the smaller batch's: memory does not grow with the batch."""
    return big_mb - small_mb <= max(5.0, 0.1 * small_mb)


def peer_targets(timesteps, batch):
    """{peer key: minimum ratio} that snncore must reach at (T, batch); {} when none."""
    if timesteps not in TARGET_TIMESTEPS:
        return {}
    if batch == 1:
        return {"spikingjelly": RATIO_SJ_SINGLE, "sinabs": RATIO_SINABS_SINGLE}
    if batch >= BIG_BATCH:
        return {"spikingjelly": RATIO_SJ_BATCH}
    return {}


def target_text(targets):
    """'>= 20x SpikingJelly, >= 8x sinabs' from peer_targets(...)."""
    names = {"spikingjelly": "SpikingJelly", "sinabs": "sinabs"}
    return ", ".join(f">= {v:g}x {names[k]}" for k, v in targets.items()) or None


def _met(flag):
    return {True: "yes", False: "NO", None: "-"}[flag]


def _cfg(r):
    t = f"T={r['timesteps']}, " if r.get("timesteps") is not None else ""
    return f"{t}batch {r['batch']}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}"


def _ratio(v):
    return "not measured" if v is None else f"{v:.2f}x"


def target_rows(records):
    """The table's rows from a list of extra_info dicts.

    Each row is a dict: target (1..6), what, measured, goal, met (True,
    False or None when it could not be judged)."""
    speed = [r for r in records if r.get("kind") == "speed" and r.get("simulator") == "snncore"]
    speed.sort(key=lambda r: (r["timesteps"], -r["batch"], r["threads"]))
    rows = []

    def row(n, what, measured, goal, met):
        rows.append({"target": n, "what": what, "measured": measured, "goal": goal, "met": met})

    # 1. snncore against the peers
    for r in speed:
        wanted = peer_targets(r["timesteps"], r["batch"])
        sj, sin = r.get("ratio_vs_spikingjelly"), r.get("ratio_vs_sinabs")
        if wanted or sj is not None:
            recipe = r.get("ratio_vs_spikingjelly_recipe") or "faster recipe"
            goal = wanted.get("spikingjelly")
            row(1, f"snncore / SpikingJelly ({recipe}), {_cfg(r)}", _ratio(sj),
                f">= {goal:g}x" if goal else "recorded",
                None if sj is None or goal is None else sj >= goal)
        if "sinabs" in wanted or sin is not None:
            goal = wanted.get("sinabs")
            row(1, f"snncore / sinabs, {_cfg(r)}", _ratio(sin),
                f">= {goal:g}x" if goal else "recorded",
                None if sin is None or goal is None else sin >= goal)

    # 2. conv synaptic operations per second per core, at the largest batch
    if speed:
        big = max(r["batch"] for r in speed)
        for r in speed:
            if r["batch"] != big:
                continue
            rate = r.get("conv_synops_per_s_per_core")
            basis = r.get("conv_rate_basis", "")
            bound = ", lower bound" if basis == "whole run" else ""
            measured = "not measured" if rate is None else f"{rate / 1e9:.2f} G/s ({basis}{bound})"
            row(2, f"conv synaptic ops/s/core, {_cfg(r)}", measured,
                f">= {CONV_RATE / 1e9:g} G/s", None if rate is None else rate >= CONV_RATE)

    # 3. and 4. two threads against one
    for r in speed:
        if r["threads"] != 2 or "identical_to_1_thread" not in r:
            continue
        ratio = r.get("ratio_vs_1_thread")
        same = "bit-identical" if r["identical_to_1_thread"] else "DIFFERENT outputs"
        measured = f"{_ratio(ratio)}, {same}"
        if r["batch"] == 1:
            team = r.get("team_always_ratio_vs_1_thread")
            if team is not None:     # the team forced (team="always"), beside "auto"
                measured = (f"{_ratio(ratio)} (team always: {_ratio(team)}), "
                            f"{same if r.get('team_always_identical', True) else 'DIFFERENT'}")
            ok = bool(r["identical_to_1_thread"] and r.get("team_always_identical", True))
            row(4, f"2 threads / 1 thread, T={r['timesteps']}, batch 1", measured,
                "bit-identical (speed-up recorded)", ok)
        else:
            goal = r.get("threads_target")
            ok = r.get("threads_target_met") if goal else None
            if ok is not None:
                ok = bool(ok and r["identical_to_1_thread"])
            row(3, f"2 threads / 1 thread, T={r['timesteps']}, batch {r['batch']}", measured,
                f"{goal}, bit-identical" if goal else "bit-identical (speed-up recorded)",
                ok if goal else bool(r["identical_to_1_thread"]))

    # 5. peak memory: grows with threads, not with the batch
    mem = {(r["timesteps"], r["batch"], r["threads"]): r for r in records
           if r.get("kind") == "memory" and r.get("peak_rss_mb") is not None}
    for (T, b, th), r in sorted(mem.items()):
        bigger = [k for k in mem if k[0] == T and k[2] == th and k[1] > b]
        for k in sorted(bigger):
            s, g = r["peak_rss_mb"], mem[k]["peak_rss_mb"]
            row(5, f"peak RSS increase, batch {k[1]} vs {b}, T={T}, {th} thread{'s' * (th > 1)}",
                f"{g:.1f} vs {s:.1f} MB", "no growth with batch (<= +max(5 MB, 10%))",
                memory_flat(s, g))
        more = [k for k in mem if k[0] == T and k[1] == b and k[2] > th]
        for k in sorted(more):
            row(5, f"peak RSS increase, {k[2]} vs {th} thread(s), T={T}, batch {b}",
                f"{mem[k]['peak_rss_mb']:.1f} vs {r['peak_rss_mb']:.1f} MB",
                "grows with threads (recorded)", None)

    # 6. generic against AVX2 kernels
    for r in records:
        if r.get("kind") == "kernel" and r.get("isa") != "generic" and "identical_to_generic" in r:
            same = "bit-identical" if r["identical_to_generic"] else "DIFFERENT outputs"
            row(6, f"{r['isa']} / generic kernels, {_cfg(r)}",
                f"{_ratio(r.get('ratio_vs_generic'))}, {same}",
                "bit-identical (speed-up recorded)", bool(r["identical_to_generic"]))
    rows.sort(key=lambda r: r["target"])      # stable: each target's rows keep their order
    return rows


def format_table(rows, records=()):
    """The rows as fixed-width text lines, with a line on the machine's load."""
    if not rows:
        return []
    head = ("#", "what", "measured", "target", "met")
    body = [(str(r["target"]), r["what"], r["measured"], r["goal"], _met(r["met"])) for r in rows]
    w = [max(len(line[i]) for line in [head] + body) for i in range(len(head))]
    fmt = "  ".join(f"{{:<{n}}}" for n in w)
    lines = [fmt.format(*head), "  ".join("-" * n for n in w)]
    lines += [fmt.format(*line) for line in body]
    loads = [r["load_avg_1min"] for r in records if r.get("load_avg_1min") is not None]
    if loads:
        lines.append(f"1-minute load average before the timed runs: {min(loads):.2f} to "
                     f"{max(loads):.2f} (on {records[0].get('cpus', '?')} CPUs); "
                     "figures taken under load are not the machine's best.")
    return lines


class SummaryPlugin:
    """Prints the table at the end of the pytest run and adds it to the JSON.

    `records` is the list the tests append their extra_info dicts to."""

    def __init__(self, records):
        self.records = records

    def pytest_terminal_summary(self, terminalreporter):
        timed = [r for r in self.records if r.get("images_per_s") is not None]
        if not timed:
            return
        terminalreporter.section("issue 6 speed targets (recorded, not asserted)")
        for line in format_table(target_rows(self.records), self.records):
            terminalreporter.write_line(line)

    def pytest_benchmark_update_json(self, config, benchmarks, output_json):
        output_json["speed_targets"] = target_rows(self.records)


def _main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python bench/speed_targets.py RESULTS.json  (from pytest bench/ "
              "--benchmark-only -k speed --benchmark-json=RESULTS.json)", file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        data = json.load(f)
    records = [b.get("extra_info", {}) for b in data.get("benchmarks", [])]
    lines = format_table(target_rows(records), records)
    try:
        print("\n".join(lines) if lines else "no speed records in " + argv[0])
    except BrokenPipeError:     # piped into head
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_main())
