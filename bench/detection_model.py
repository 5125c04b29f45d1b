"""The Tiny-YOLO-style detector of bench/detection_study.py, its training loss and training.

    python bench/detection_model.py            # train, write bench/weights/tiny_yolo.{pt,json}

The layout follows Tiny-YOLO as Spiking-YOLO converts it: 3x3 convolutions with
BatchNorm and leaky ReLU (slope 0.1), 2x2 max pooling after each of the first
four, and a 1x1 convolution as the grid head. One scale is added the way
YOLOv3-tiny adds it: the stride-16 features are reduced by a 1x1 conv,
upsampled (nearest) to stride 8 and concatenated with the stride-8 features
before the head, so that the head sees the larger receptive field that the
biggest objects need. The head is one map, (A * (5 + K), 8, 8) on a 64x64
canvas (snncore.detection documents the channel layout), because a converted
network has one output population.

Training is the YOLOv2 loss (below) with AdamW and a one-cycle learning rate,
fixed seeds, two threads, on the 10,000 training canvases of
bench/detection_data.py: 12 epochs, about 9 minutes on a shared 2-core machine.
"""

import argparse
import datetime
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import detection_data  # noqa: E402

NAME = "tiny_yolo"
LEAKY_SLOPE = 0.1
# Anchor (width, height) in pixels: the medians of a 3-cluster k-means (1 - IoU
# distance) of the training canvases' boxes.
ANCHORS = ((14.0, 21.0), (24.0, 13.0), (26.0, 31.0))
STRIDE = 8
WIDTHS = (8, 16, 32, 64, 96)      # the five backbone convolutions
NECK = 32                          # the 1x1 reduction before the upsampling
MERGE = 64                         # the 3x3 conv after the concatenation
THREADS = 2
SEED = 0
RECIPE = {"epochs": 12, "batch_size": 64, "lr": 2e-3, "weight_decay": 5e-4}
# Loss weights (YOLOv2): box terms, objectness of the empty cells, classes.
LOSS_WEIGHTS = {"box": 5.0, "noobj": 0.5, "cls": 1.0}
# A cell and anchor that is not responsible for an object but whose box
# overlaps one by more than this is left out of the objectness loss.
IGNORE_IOU = 0.6

WEIGHTS_DIR = os.environ.get("SNNCORE_BENCH_WEIGHTS", os.path.join(HERE, "weights"))


def conv_bn_leaky(cin, cout, k):
    return [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
            nn.LeakyReLU(LEAKY_SLOPE)]


class TinyYOLO(nn.Module):
    """conv-BN-leaky-maxpool x4 (stride 16), conv-BN-leaky; a 1x1 conv,
    nearest upsampling x2 and concatenation with the stride-8 features; a
    3x3 conv-BN-leaky and a 1x1 head conv with bias. Input (N, 1, H, W) in
    [0, 1], H and W multiples of 16; output (N, A * (5 + K), H/8, W/8)."""

    def __init__(self, num_classes=detection_data.NUM_CLASSES, anchors=ANCHORS, widths=WIDTHS,
                 neck=NECK, merge=MERGE, pool="max"):
        super().__init__()
        pooling = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pool]
        w1, w2, w3, w4, w5 = widths
        self.stride8 = nn.Sequential(*conv_bn_leaky(1, w1, 3), pooling(2),
                                     *conv_bn_leaky(w1, w2, 3), pooling(2),
                                     *conv_bn_leaky(w2, w3, 3), pooling(2))
        self.stride16 = nn.Sequential(*conv_bn_leaky(w3, w4, 3), pooling(2),
                                      *conv_bn_leaky(w4, w5, 3),
                                      *conv_bn_leaky(w5, neck, 1),
                                      nn.Upsample(scale_factor=2, mode="nearest"))
        self.merge = nn.Sequential(*conv_bn_leaky(w3 + neck, merge, 3))
        self.head = nn.Conv2d(merge, len(anchors) * (5 + num_classes), 1)
        self.num_classes = num_classes
        self.anchors = tuple(tuple(map(float, a)) for a in anchors)

    def forward(self, x):
        fine = self.stride8(x)
        return self.head(self.merge(torch.cat([fine, self.stride16(fine)], 1)))


# -- targets and loss ---------------------------------------------------------------------

def _wh_iou(wh, anchors):
    """IoU of boxes (M, 2) with anchors (A, 2) when both are centred alike: (M, A)."""
    inter = torch.minimum(wh[:, None, 0], anchors[None, :, 0]) * \
        torch.minimum(wh[:, None, 1], anchors[None, :, 1])
    return inter / (wh.prod(1)[:, None] + anchors.prod(1)[None, :] - inter)


def build_targets(gt, anchors, grid, num_classes):
    """YOLOv2 training targets of a batch.

    gt : list of (boxes float (M, 4) pixels, classes int64 (M,)), one per image
    anchors : tensor (A, 2); grid : int S (stride STRIDE)

    Returns a dict of tensors over (N, A, S, S): "mask" (bool, the cell and
    anchor responsible for an object: the cell holding its centre, the anchor
    of the most similar shape), "txy" (N, A, 2, S, S) centre offsets in the
    cell, "twh" (N, A, 2, S, S) log size over the anchor, "cls" (int64) and
    "scale" (2 - w*h / canvas area, YOLOv2's weight for small boxes).
    """
    n, a = len(gt), len(anchors)
    out = {"mask": torch.zeros(n, a, grid, grid, dtype=torch.bool),
           "txy": torch.zeros(n, a, 2, grid, grid), "twh": torch.zeros(n, a, 2, grid, grid),
           "cls": torch.zeros(n, a, grid, grid, dtype=torch.long),
           "scale": torch.zeros(n, a, grid, grid)}
    size = grid * STRIDE
    for i, (boxes, classes) in enumerate(gt):
        if len(boxes) == 0:
            continue
        b = torch.as_tensor(boxes, dtype=torch.float32)
        wh = (b[:, 2:] - b[:, :2]).clamp(min=1.0)
        centre = (b[:, :2] + b[:, 2:]) / 2
        cell = (centre / STRIDE).floor().long().clamp(0, grid - 1)
        best = _wh_iou(wh, anchors).argmax(1)
        for j in range(len(b)):
            k, col, row = best[j], cell[j, 0], cell[j, 1]
            out["mask"][i, k, row, col] = True
            out["txy"][i, k, :, row, col] = centre[j] / STRIDE - cell[j].float()
            out["twh"][i, k, :, row, col] = torch.log(wh[j] / anchors[k])
            out["cls"][i, k, row, col] = int(classes[j])
            out["scale"][i, k, row, col] = 2 - wh[j].prod() / size ** 2
    return out


def _pred_boxes(p, anchors):
    """Decoded boxes (N, A, S, S, 4) x0y0x1y1 in pixels from head values p (N, A, 5+K, S, S)."""
    s = p.shape[-1]
    idx = torch.arange(s, dtype=p.dtype)
    cx = (idx[None, None, None, :] + torch.sigmoid(p[:, :, 0])) * STRIDE
    cy = (idx[None, None, :, None] + torch.sigmoid(p[:, :, 1])) * STRIDE
    w = anchors[None, :, 0, None, None] * torch.exp(p[:, :, 2].clamp(max=8))
    h = anchors[None, :, 1, None, None] * torch.exp(p[:, :, 3].clamp(max=8))
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def _padded(gt):
    """The boxes of a batch as one tensor (N, M_max, 4), missing ones all zero (IoU 0)."""
    most = max(1, max(len(b) for b, _ in gt))
    out = torch.zeros(len(gt), most, 4)
    for i, (boxes, _) in enumerate(gt):
        out[i, :len(boxes)] = torch.as_tensor(boxes, dtype=torch.float32)
    return out


def _best_overlap(pred, gt):
    """(N, A, S, S) largest IoU of each predicted box with its image's objects."""
    g = _padded(gt)[:, None, :, :]                     # (N, 1, M, 4)
    p = pred.reshape(len(pred), -1, 1, 4)              # (N, A*S*S, 1, 4)
    lt = torch.maximum(p[..., :2], g[..., :2])
    rb = torch.minimum(p[..., 2:], g[..., 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = (p[..., 2:] - p[..., :2]).prod(-1) + (g[..., 2:] - g[..., :2]).prod(-1) - inter
    return (inter / union.clamp(min=1e-9)).max(-1).values.reshape(pred.shape[:-1])


def yolo_loss(head, gt, anchors, num_classes):
    """The YOLOv2 loss of a batch, summed over the grid and averaged over images.

    head : (N, A*(5+K), S, S) from the model; gt : list of (boxes, classes)."""
    n, _, s, _ = head.shape
    a = len(anchors)
    p = head.reshape(n, a, 5 + num_classes, s, s)
    t = build_targets(gt, anchors, s, num_classes)
    mask = t["mask"]
    with torch.no_grad():
        ignore = (_best_overlap(_pred_boxes(p.detach(), anchors), gt) > IGNORE_IOU) & ~mask
    obj_logit = p[:, :, 4]
    obj_loss = F.binary_cross_entropy_with_logits(obj_logit, mask.float(), reduction="none")
    obj_loss = (obj_loss * mask).sum() + LOSS_WEIGHTS["noobj"] * (obj_loss * ~(mask | ignore)).sum()
    m = mask[:, :, None].expand(-1, -1, 2, -1, -1)
    scale = t["scale"][:, :, None].expand(-1, -1, 2, -1, -1)[m]
    box_loss = (scale * (torch.sigmoid(p[:, :, 0:2])[m] - t["txy"][m]) ** 2).sum() + \
        (scale * (p[:, :, 2:4][m] - t["twh"][m]) ** 2).sum()
    cls_logits = p[:, :, 5:].permute(0, 1, 3, 4, 2)[mask]
    cls_loss = F.cross_entropy(cls_logits, t["cls"][mask], reduction="sum")
    total = LOSS_WEIGHTS["box"] * box_loss + obj_loss + LOSS_WEIGHTS["cls"] * cls_loss
    return total / n


# -- training and the weight files ----------------------------------------------------------

def weight_paths(name=NAME):
    return os.path.join(WEIGHTS_DIR, f"{name}.pt"), os.path.join(WEIGHTS_DIR, f"{name}.json")


def predict(model, images, batch_size=500):
    """The head of the model (eval mode) on float images: float32 ndarray (N, C, S, S)."""
    model.eval()
    x = torch.as_tensor(images)
    with torch.no_grad():
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
                         ).numpy()


def train(data, epochs=RECIPE["epochs"], seed=SEED, model=None, log=print):
    """Train `model` (a fresh TinyYOLO by default) on Canvases `data`; returns
    (model in eval mode, seconds)."""
    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    model = TinyYOLO() if model is None else model
    anchors = torch.tensor(model.anchors)
    x = torch.from_numpy(data.floats())
    gt = data.ground_truth()
    bs = RECIPE["batch_size"]
    opt = torch.optim.AdamW(model.parameters(), lr=RECIPE["lr"],
                            weight_decay=RECIPE["weight_decay"])
    steps = epochs * -(-len(x) // bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, RECIPE["lr"], total_steps=steps,
                                                pct_start=0.1)
    order_gen = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=order_gen)
        total = 0.0
        for i in range(0, len(x), bs):
            idx = order[i:i + bs]
            opt.zero_grad(set_to_none=True)
            loss = yolo_loss(model(x[idx]), [gt[j] for j in idx.tolist()], anchors,
                             model.num_classes)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"  epoch {epoch + 1}/{epochs}: loss {total / len(x):.3f} "
            f"({time.perf_counter() - started:.0f} s)")
    return model.eval(), time.perf_counter() - started


def save(model, info, name=NAME):
    """Write the state dict (float32) and `info` (plus the file size) beside it."""
    os.makedirs(WEIGHTS_DIR, exist_ok=True)
    pt, meta = weight_paths(name)
    state = {k: (v.detach().to(torch.float32) if v.is_floating_point() else v.detach())
             .contiguous() for k, v in model.state_dict().items()}
    torch.save(state, pt)
    info = dict(info, weights_bytes=os.path.getsize(pt))
    with open(meta, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def load(name=NAME):
    """(the trained TinyYOLO in eval mode, its metadata dict), or None if the
    weight files are missing."""
    pt, meta = weight_paths(name)
    if not (os.path.exists(pt) and os.path.exists(meta)):
        return None
    with open(meta) as f:
        info = json.load(f)
    model = TinyYOLO(anchors=info["anchors"])
    model.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
    return model.eval(), info


def train_and_save(epochs=RECIPE["epochs"], seed=SEED, log=print):
    """Train on the cached training canvases and save; returns (model, info)."""
    data = detection_data.load("train", log=log)
    log(f"{NAME}: training on {len(data):,} canvases, {epochs} epochs")
    cpu = time.process_time()
    model, seconds = train(data, epochs, seed, log=log)
    info = {"model": NAME, "class": type(model).__name__, "anchors": [list(a) for a in ANCHORS],
            "widths": list(WIDTHS), "neck": NECK, "merge": MERGE, "leaky_slope": LEAKY_SLOPE,
            "train_canvases": len(data), "data_settings": detection_data.settings(),
            "epochs": epochs, "recipe": RECIPE, "loss_weights": LOSS_WEIGHTS, "seed": seed,
            "threads": THREADS, "train_seconds": round(seconds, 1),
            "train_cpu_seconds": round(time.process_time() - cpu, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "torch": torch.__version__, "date": datetime.date.today().isoformat()}
    info = save(model, info)
    log(f"{NAME}: trained in {seconds:.0f} s -> {weight_paths()[0]}")
    return model, info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=RECIPE["epochs"])
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    train_and_save(args.epochs, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
