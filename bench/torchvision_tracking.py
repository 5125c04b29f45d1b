"""How closely each of torchvision's 13 classifiers, converted, follows its ANN.

    python bench/torchvision_tracking.py                      # 64x64, T=256, all 13
    python bench/torchvision_tracking.py --size 32 --steps 128 --models resnet18,vgg11_bn
    python bench/torchvision_tracking.py --json bench/results/tracking_torchvision.json

Each classifier is torchvision's own definition with random weights and 10 classes,
its BatchNorm statistics settled on random images (tests/torchvision_models.py), then
converted by ``from_torch(model, x, norm="percentile")`` (99.9th percentile, spiking
max pooling) on those images. It either converts, and its SNN runs for T steps on
fresh random images beside its ANN (the share of images whose argmax agrees, and the
correlation of all logits), or it is refused with the layer named. The table says
which; bench/report.py renders the JSON (``tracking_*.json`` in bench/results) as a
section of bench/RESULTS.md. tests/test_torchvision_models.py asserts the same at 32x32.
"""

import argparse
import json
import os
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from models import _tests_helper  # noqa: E402  (tests/torchvision_models.py)


def track(tv, name, size, steps, images, threads):
    """One row: the verdict, and where it converts the tracking figures."""
    from snncore.convert import ConversionError, from_torch

    started = time.perf_counter()
    model, x = tv.settled(name, size, images)       # at least the classifier's MIN_SIZE
    row = {"model": name, "size": int(x.shape[-1]), "steps": steps, "images": images}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            net = from_torch(model, x, norm="percentile", progress=False)
    except ConversionError as e:
        named = tv.refused_layer(str(e))       # keep the layer and why
        row.update(verdict="refused", reason=": ".join(named) if named else str(e))
    else:
        agree, corr = tv.tracking(model, x, net, steps, threads=threads)
        row.update(verdict="converts", argmax_agreement=agree, correlation=corr,
                   neurons=net.describe()["totals"]["neurons"])
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def table(rows):
    """The rows as a Markdown table."""
    out = ["| model | input | verdict | argmax agreement | logit correlation | neurons | s |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["verdict"] == "converts":
            cells = [f"{100 * r['argmax_agreement']:.0f} %", f"{r['correlation']:.4f}",
                     f"{r['neurons']:,}"]
        else:
            cells = [f"refused: {r['reason']}", "", ""]
        out.append(f"| {r['model']} | {r['size']}x{r['size']} | {r['verdict']} | "
                   + " | ".join(cells) + f" | {r['seconds']:.1f} |")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--size", type=int, default=64, help="input height and width")
    parser.add_argument("--steps", "-T", type=int, default=256)
    parser.add_argument("--images", type=int, default=8,
                        help="random images for BatchNorm, calibration and the comparison")
    parser.add_argument("--models", help="comma-separated names (default: all 13)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the rows here (bench/results/tracking_*.json)")
    args = parser.parse_args(argv)
    tv = _tests_helper("torchvision_models")
    ok, reason = tv.available()
    if not ok:
        parser.error(reason)
    names = args.models.split(",") if args.models else list(tv.CLASSIFIERS)
    unknown = sorted(set(names) - set(tv.CLASSIFIERS))
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(tv.CLASSIFIERS)}")
    rows = []
    for name in names:
        rows.append(track(tv, name, args.size, args.steps, args.images, args.threads))
        print(f"{name}: {rows[-1]['verdict']} ({rows[-1]['seconds']:.1f} s)", file=sys.stderr)
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kind": "torchvision_tracking", "size": args.size, "steps": args.steps,
                       "images": args.images, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
