"""`Network.summary()`: the populations and projections as text tables."""

import numpy as np

from ._spec import WINDOWED

__all__ = ["summary_text", "format_table"]


def format_table(headers, rows, align=None):
    """Left-aligned text columns (right-aligned where ``align[i] == '>'``)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    align = align or ["<"] * len(headers)

    def line(r):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(r, align, widths)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def _shape_text(pop):
    return str((pop["shape"][0],)) if pop["ndim"] == 1 else str(tuple(pop["shape"]))


def _values_text(arr):
    if arr is None:
        return "-"
    arr = np.asarray(arr).reshape(-1)
    if arr.size == 1:
        return f"{float(arr[0]):.4g}"
    return f"{arr.size} ch, {float(arr.min()):.3g}..{float(arr.max()):.3g}"


def _population_row(pop):
    n = int(np.prod(pop["shape"]))
    if pop["kind"] == "if":
        theta = _values_text(pop["threshold"])
        if pop["signed"]:
            theta += " / -" + _values_text(pop["threshold_neg"])
        neuron = f"{pop['reset']}, v0={pop['v_init']:g}"
        if pop["retract"]:
            neuron += ", retract"
    else:
        theta, neuron = "-", "-"
    bias = "-" if pop["bias"] is None else (
        "per channel" if pop["bias"].size == pop["shape"][0] else "per neuron")
    return [pop["name"], pop["kind"], _shape_text(pop), f"{n:,}", theta, neuron, bias]


def _projection_row(q, pops, macs):
    src, dst = pops[q["source"]], pops[q["target"]]
    if q["op"] in WINDOWED:
        params = f"k={q['kernel'][0]}x{q['kernel'][1]} s={q['stride'][0]},{q['stride'][1]} " \
                 f"p={q['padding'][0]},{q['padding'][1]}" + (" ceil" if q["ceil_mode"] else "")
        if q["op"] == "conv2d" and q["groups"] > 1:
            params += f" g={q['groups']}"
    elif q["op"] == "upsample2d":
        params = f"x{q['scale'][0]},{q['scale'][1]}"
    else:
        params = "-"
    weights = 0 if q["weight"] is None else int(q["weight"].size)
    return [q["name"], q["op"], f"{src['name']} -> {dst['name']}", params, f"{weights:,}",
            f"{macs[q['name']]:,}"]


def summary_text(spec, macs):
    pops = spec["populations"]
    pop_rows = [_population_row(pops[i]) for i in spec["order"]]
    proj_rows = [_projection_row(q, pops, macs) for q in spec["projections"]]
    n_weights = sum(0 if q["weight"] is None else int(q["weight"].size) for q in spec["projections"])
    n_neurons = sum(int(np.prod(p["shape"])) for p in pops if p["kind"] != "input")
    parts = [
        "Populations (simulation order)",
        format_table(["name", "kind", "shape", "neurons", "threshold", "neuron", "bias"], pop_rows,
                     ["<", "<", "<", ">", "<", "<", "<"]),
        "",
        "Projections",
        format_table(["name", "op", "source -> target", "window", "weights", "ANN MACs"], proj_rows,
                     ["<", "<", "<", "<", ">", ">"]),
        "",
        f"input {_shape_text(pops[spec['input']])}, output {pops[spec['output']]['name']!r} "
        f"({pops[spec['output']]['kind']}), encoding hint {spec['encoding']!r}",
        f"{n_neurons:,} neurons, {n_weights:,} weights, "
        f"{sum(macs.values()):,} ANN multiply-accumulates per image",
    ]
    fn = (spec["provenance"] or {}).get("output_function")
    if fn:
        parts.append(f"outputs are pre-activation (logits): the model's final {fn} is left out "
                     f"of the read-out (the argmax is unchanged; apply {fn} to the outputs for "
                     "its values)")
    if spec["provenance"]:
        parts.append("provenance: " + ", ".join(f"{k}={v!r}" for k, v in spec["provenance"].items()))
    return "\n".join(parts)
