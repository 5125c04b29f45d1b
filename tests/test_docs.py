"""The docs cannot fall behind the code: docs/embedding.md names every
function of the public C header, docs/format.md's tables of keys say what the
library's key table (snn_keys) says, every picture the docs show is in
docs/images/, and the repository cites no file it does not hold."""

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


# A cited Markdown file (a name ending in ".md") must be a file of the repository,
# and no path may lead into a user's home directory (a machine's own tree, not the
# reader's).
_MD_NAME = re.compile(r"(?<![\w/.-])([A-Za-z0-9_-]+\.md)\b")
_HOME = re.compile(r"(?<![\w.:/-])(/(home|root|Users)/|~/)")
_TEXT_SUFFIXES = (".py", ".pyx", ".pxd", ".c", ".h", ".md", ".txt", ".toml", ".build", ".ini",
                  ".cfg", ".json", ".tsv", ".sh", ".in", ".yml", ".yaml")


def _repository_text_files():
    skip = {".git", ".venv", "build", "dist", ".hypothesis", ".pytest_cache", ".benchmarks"}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith("build-")
                       and not d.endswith(".egg-info") and d != "__pycache__"]
        for name in filenames:
            if name.endswith(_TEXT_SUFFIXES) or name in ("dev", "run"):
                yield os.path.join(dirpath, name)


def outside_citations(paths, known_md):
    """(file, line number, text) of every line that cites a Markdown file not
    among `known_md` (base names) or a path into a home directory."""
    found = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if any(m not in known_md for m in _MD_NAME.findall(line)) or _HOME.search(line):
                    found.append((os.path.relpath(path, ROOT), n, line.strip()[:120]))
    return found


def test_the_repository_cites_nothing_outside_it():
    this = os.path.abspath(__file__)        # its own examples of what is refused
    paths = [p for p in _repository_text_files() if os.path.abspath(p) != this]
    assert len(paths) > 100
    known = {os.path.basename(p) for p in paths if p.endswith(".md")}
    assert outside_citations(paths, known) == []


def test_the_citation_check_can_fail(tmp_path):
    bad = tmp_path / "notes.md"
    bad.write_text("See PLAN.md.\nthe net is in /home/someone/a.npz\nor ~/nets/b.npz\n"
                   "fine: docs/format.md, /usr/share/x, /conv2/Conv, a/home/b\n")
    assert [n for _, n, _ in outside_citations([str(bad)], {"format.md"})] == [1, 2, 3]
