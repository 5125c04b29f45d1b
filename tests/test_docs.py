"""The docs cannot fall behind the code: docs/embedding.md names every
function of the public C header, and every picture the docs show is in
docs/images/."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def test_embedding_names_every_public_c_function():
    header = _read("csrc", "include", "snn.h")
    functions = set(re.findall(r"^SNN_API\b[^(]*?\b(snn_\w+)\s*\(", header, re.M))
    assert len(functions) > 50
    doc = _read("docs", "embedding.md")
    missing = sorted(f for f in functions if not re.search(rf"\b{f}\b", doc))
    assert not missing, f"docs/embedding.md does not name {', '.join(missing)}"


def test_every_picture_the_docs_show_exists():
    docs = os.path.join(ROOT, "docs")
    shown = []
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _read("docs", name)):
                shown.append(target)
                assert os.path.isfile(os.path.join(docs, target)), f"{name}: {target} is missing"
    assert "images/report.png" in shown and "images/correlation.png" in shown
