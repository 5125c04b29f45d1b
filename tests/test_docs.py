"""The docs cannot fall behind the code: docs/embedding.md names every
function of the public C header, docs/format.md's tables of keys say what the
library's key table (snn_keys) says, and every picture the docs show is in
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


def _table_rows(doc, heading):
    """The rows (lists of cells) of the first table after `heading`."""
    section = doc.split(heading, 1)[1]
    lines = section.split("\n\n| ", 1)[1].split("\n\n")[0].splitlines()
    return [[cell.strip() for cell in line.strip("| ").split(" | ")] for line in lines[2:]]


def test_format_tables_list_the_library_keys():
    from snncore import _core
    doc = _read("docs", "format.md")
    keys = {owner: {} for owner in ("population", "projection")}
    for row in _core.KEYS:
        if row["owner"] in keys:
            keys[row["owner"]].setdefault(row["key"], set()).update(row["applies"])
    documented = {}
    for key, kinds, *_ in _table_rows(doc, "### Populations"):
        named = set(re.findall(r"`(\w+)`", kinds))
        documented[key.strip("`")] = set(_core.KINDS) if kinds == "all" else named
    assert documented == keys["population"]
    for op, cell, *_ in _table_rows(doc, "### Projections"):
        op = op.strip("`")
        given = {k for k in re.findall(r"`(\w+)`", cell) if k in keys["projection"]}
        takes = {k for k, ops in keys["projection"].items() if op in ops}
        assert given == takes - {"name", "op", "source", "target"}, op


def test_every_picture_the_docs_show_exists():
    docs = os.path.join(ROOT, "docs")
    shown = []
    for name in sorted(os.listdir(docs)):
        if name.endswith(".md"):
            for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", _read("docs", name)):
                shown.append(target)
                assert os.path.isfile(os.path.join(docs, target)), f"{name}: {target} is missing"
    assert "images/report.png" in shown and "images/correlation.png" in shown
