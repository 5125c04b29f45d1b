"""What the command-line tests share: a small model factory module trained on
real digits in a temporary directory, and `python -m snncore` run as a user
runs it."""

import functools
import os
import subprocess
import sys
import textwrap

import numpy as np

FACTORY = textwrap.dedent("""
    import torch.nn as nn


    class TinyNet(nn.Module):
        def __init__(self, num_classes=10):
            super().__init__()
            self.conv = nn.Conv2d(1, 6, 3, padding=1)
            self.pool = nn.AvgPool2d(2)
            self.fc = nn.Linear(6 * 4 * 4, num_classes)

        def forward(self, x):
            x = self.pool(self.conv(x).relu())
            return self.fc(x.flatten(1))


    def make(num_classes=10):
        return TinyNet(num_classes)
""")

FACTORY_ARGS = ("--factory", "tinynet:make", "--weights", "net.pt")


@functools.lru_cache(maxsize=1)
def _trained_state():
    """tinynet trained on scikit-learn's digits: its state dict, trained once
    per test session (two test modules use it)."""
    import torch

    from snncore.datasets import digits

    namespace = {}
    exec(FACTORY, namespace)
    x_train, y_train = digits("train")
    torch.manual_seed(0)
    model = namespace["make"]()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_workdir(torch, d):
    """Write into directory `d`: tinynet.py (the factory), its weights trained
    on scikit-learn's digits (net.pt) and the whole pickled module (whole.pt),
    calibration images x.npy (uint8) and x.npz, test images and labels
    (x_test.npy, y_test.npy). Returns the trained model."""
    from snncore.datasets import digits

    (d / "tinynet.py").write_text(FACTORY)
    sys.path.insert(0, str(d))
    try:
        import tinynet
    finally:
        sys.path.remove(str(d))
    x_train, y_train = digits("train")
    x_test, y_test = digits("test")
    model = tinynet.make()          # the module's own class, so that whole.pt unpickles
    model.load_state_dict(_trained_state())
    model.eval()
    torch.save(model.state_dict(), d / "net.pt")
    torch.save(model, d / "whole.pt")
    u8 = np.rint(x_train[:200] * 255).astype(np.uint8)
    np.save(d / "x.npy", u8)
    np.savez(d / "x.npz", labels=y_train[:200], images=x_train[:200])
    np.save(d / "x_test.npy", x_test)
    np.save(d / "y_test.npy", y_test)
    return model


def env_with(work):
    """The environment with `work` on PYTHONPATH."""
    path = [str(work)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def snncore_all(work, *commands):
    """Several `python -m snncore` commands at once in `work` (each imports
    torch, which takes seconds), results in the order of `commands`."""
    procs = [subprocess.Popen([sys.executable, "-m", "snncore", *map(str, args)], cwd=work,
                              env=env_with(work), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in commands]
    results = []
    for p, args in zip(procs, commands):
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def snncore(work, *args):
    """`python -m snncore ARGS...` in `work`, with `work` on PYTHONPATH."""
    return snncore_all(work, args)[0]


def one_line_error(r):
    """The one line of a failure (exit 1, no traceback)."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert len(lines) == 1 and lines[0].startswith("snncore: error: "), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def usage_error(r):
    """A usage error: exit 2, argparse's usage, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "usage:" in r.stderr and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def snncore_here(work, *args):
    """`snncore ARGS...` run in this process (snncore.cli.main) in `work`, as
    a CompletedProcess: the same code as the command without the seconds
    that a new interpreter spends importing torch. For the many refusals;
    each command's successful runs are driven as subprocesses."""
    import contextlib
    import io

    from snncore.cli import main

    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    sys.path.insert(0, str(work))
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:      # argparse's usage errors and --help
                code = e.code
    finally:
        os.chdir(cwd)
        sys.path.remove(str(work))
    return subprocess.CompletedProcess(["snncore", *args], code, out.getvalue(), err.getvalue())
