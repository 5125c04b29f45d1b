"""The two builds (setup.py for the Python extension, meson.build for the C
library) must compile the same sources with the same floating-point flags, and
the version must have one source. Both builds read the source lists of the C
core and the file loader from csrc/src/sources.txt and csrc/loader/sources.txt,
and the version from csrc/include/snn.h. The C core must stay free of Python."""

import ast
import json
import os
import re
import shutil
import subprocess
import tomllib

import pytest

import snncore

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(relpath):
    with open(os.path.join(ROOT, relpath), encoding="utf-8") as f:
        return f.read()


def setup_constant(name):
    """The literal value of a top-level assignment in setup.py."""
    tree = ast.parse(read("setup.py"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"setup.py has no top-level {name} = ...")


def setup_functions(root=ROOT):
    """setup.py's top-level functions, run against the files under `root`
    (setup.py itself is not run: it would build)."""
    tree = ast.parse(read("setup.py"))
    keep = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef))
            and not (isinstance(n, ast.ImportFrom) and n.module in ("Cython.Build", "setuptools"))]
    namespace = {"HERE": root}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "setup.py", "exec"), namespace)
    return namespace


LISTS = ("csrc/src", "csrc/loader")     # the folders whose sources.txt lists their C files


def source_list(folder="csrc/src"):
    """<folder>/sources.txt: the folder's sources, one path per line."""
    return [line.strip() for line in read(folder + "/sources.txt").splitlines()
            if line.strip()]


def _strip_meson_comments(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def meson_call_strings(variable, function):
    """The string literals of `variable = function(...)` in meson.build
    (comments removed; nested brackets allowed)."""
    text = _strip_meson_comments(read("meson.build"))
    m = re.search(r"^\s*%s\s*=\s*%s\s*\(" % (re.escape(variable), re.escape(function)), text,
                  re.MULTILINE)
    assert m, f"meson.build has no {variable} = {function}(...)"
    depth, i = 1, m.end()
    while depth:
        assert i < len(text), f"unbalanced parentheses after {variable} in meson.build"
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        i += 1
    return re.findall(r"'([^']*)'", text[m.end():i - 1])


def source_files(folder="csrc/src"):
    """The C files of `folder`, but the loader's stand-in for builds without it."""
    return sorted(folder + "/" + f for f in os.listdir(os.path.join(ROOT, folder))
                  if f.endswith(".c") and f != "load_stub.c")


# ---------------------------------------------------------------------------
# Sources: csrc/src/sources.txt is the one list
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("folder", LISTS)
def test_source_list_names_every_c_file_once(folder):
    sources = source_list(folder)
    assert len(sources) == len(set(sources)), sources
    assert sorted(sources) == source_files(folder)


def test_setup_py_reads_the_source_lists():
    listed = setup_functions()["listed_sources"]
    for folder in LISTS:
        assert listed(folder + "/sources.txt") == source_list(folder)
    tree = ast.parse(read("setup.py"))
    assigned = [n.value for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "SOURCES" for t in n.targets)]
    expected = " + ".join("listed_sources('%s/sources.txt')" % f for f in LISTS)
    assert len(assigned) == 1 and ast.unparse(assigned[0]) == expected, \
        "setup.py's SOURCES is not read from the source lists"


def test_setup_py_follows_an_edit_of_the_source_list(tmp_path):
    (tmp_path / "csrc" / "src").mkdir(parents=True)
    (tmp_path / "csrc" / "src" / "sources.txt").write_text(
        "csrc/src/a.c\n\ncsrc/src/b.c\n", encoding="utf-8")
    assert setup_functions(str(tmp_path))["listed_sources"]("csrc/src/sources.txt") == \
        ["csrc/src/a.c", "csrc/src/b.c"]


@pytest.mark.parametrize("folder", LISTS)
def test_meson_reads_the_source_list(folder):
    text = _strip_meson_comments(read("meson.build"))
    assert re.search(r"fs\.read\(\s*'%s/sources\.txt'\s*\)" % re.escape(folder), text), \
        f"meson.build does not read {folder}/sources.txt"
    named = set(re.findall(r"'(%s/[^'/]+\.c)'" % re.escape(folder), text))
    assert named <= {"csrc/loader/load_stub.c", "csrc/loader/npy.c"}, \
        f"meson.build names a source of {folder} itself instead of reading its sources.txt"


def test_both_builds_read_the_loader_s_libraries_from_one_list():
    """csrc/loader/dependencies.txt names the loader's libraries (pkg-config
    names) once: meson.build asks pkg-config for each, setup.py too, and links
    them by name less "lib" where pkg-config is missing."""
    libraries = [line.strip() for line in read("csrc/loader/dependencies.txt").splitlines()
                 if line.strip()]
    assert libraries, "csrc/loader/dependencies.txt names no library"
    text = _strip_meson_comments(read("meson.build"))
    assert re.search(r"fs\.read\(\s*'csrc/loader/dependencies\.txt'\s*\)", text), \
        "meson.build does not read csrc/loader/dependencies.txt"
    setup_text = _strip_meson_comments(read("setup.py"))
    for name in libraries:
        assert f"'{name}'" not in text, f"meson.build names {name} itself"
        assert f'"{name}"' not in setup_text, f"setup.py names {name} itself"
    namespace = setup_functions()
    assert namespace["listed_sources"]("csrc/loader/dependencies.txt") == libraries
    fallback = namespace["pkg_config"]("--libs-only-l", ["no-such-package-snncore"], ["x"])
    assert fallback == ["x"], "pkg-config's failure must leave the fallback"


def test_meson_library_sources_are_the_source_list(tmp_path):
    """Configure meson (no compiling) and ask it which files the library compiles."""
    meson = shutil.which("meson")
    if meson is None:
        pytest.skip("meson is not installed (the [dev] extra)")
    build = tmp_path / "build"
    subprocess.run([meson, "setup", str(build), "-Dtests=false", "-Dloader=disabled",
                    "-Drunner=disabled"], cwd=ROOT, check=True, capture_output=True)
    out = subprocess.run([meson, "introspect", str(build), "--targets"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    libs = [t for t in json.loads(out) if t["name"] == "snncore" and t["type"] == "shared library"]
    assert len(libs) == 1, out
    compiled = {os.path.relpath(src, ROOT).replace(os.sep, "/")
                for ts in libs[0]["target_sources"] for src in ts.get("sources", [])}
    core = {s for s in compiled if s.startswith("csrc/src/")}
    assert sorted(core) == sorted(source_list())


def test_the_c_sources_exist_and_are_not_empty():
    files = source_files()
    assert files, "csrc/src holds no .c files"
    for f in files:
        assert os.path.getsize(os.path.join(ROOT, f)) > 0, f


def test_extension_compiles_the_listed_sources():
    text = read("setup.py")
    assert re.search(r'sources\s*=\s*\["python/_core\.pyx"\]\s*\+\s*SOURCES', text), \
        "setup.py's Extension does not compile SOURCES"
    assert re.search(r"extra_compile_args\s*=\s*COMPILE_ARGS", text), \
        "setup.py's Extension does not use COMPILE_ARGS"


def test_meson_library_compiles_the_core_sources_with_core_args():
    text = _strip_meson_comments(read("meson.build"))
    m = re.search(r"both_libraries\s*\(\s*'snncore'\s*,\s*core_sources\b(.*?)\)\s*$", text,
                  re.MULTILINE | re.DOTALL)
    assert m, "meson.build does not build the library from core_sources"
    assert re.search(r"c_args\s*:\s*core_args", m.group(1)), \
        "meson.build's library does not use core_args"


# ---------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------

def test_setup_py_disables_fp_contraction():
    args = setup_constant("COMPILE_ARGS")
    assert "-ffp-contract=off" in args, args
    assert not any(a.startswith("-ffast-math") or a.startswith("-Ofast") for a in args), args


def test_meson_disables_fp_contraction():
    args = meson_call_strings("core_args", "cc.get_supported_arguments")
    assert "-ffp-contract=off" in args, args
    assert not any(a.startswith("-ffast-math") or a.startswith("-Ofast") for a in args), args


def test_both_builds_define_the_same_macros():
    setup_defs = {a for a in setup_constant("COMPILE_ARGS") if a.startswith("-D")}
    meson_defs = {a for a in meson_call_strings("core_args", "cc.get_supported_arguments")
                  if a.startswith("-D")}
    assert setup_defs == meson_defs


def test_the_meson_check_is_able_to_fail():
    """The parser finds exactly the arguments, not other strings."""
    args = meson_call_strings("core_args", "cc.get_supported_arguments")
    assert all(a.startswith("-") for a in args), args
    with pytest.raises(AssertionError):
        meson_call_strings("no_such_variable", "files")


# ---------------------------------------------------------------------------
# Version
# ---------------------------------------------------------------------------

def header_version():
    m = re.search(r'^#define\s+SNN_VERSION_STRING\s+"([^"]+)"', read("csrc/include/snn.h"),
                  re.MULTILINE)
    assert m, "snn.h defines no SNN_VERSION_STRING"
    return m.group(1)


def test_the_version_is_stated_once():
    """pyproject.toml leaves the version to setup.py, which reads snn.h; the
    Python package reports the compiled library's version."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert "version" not in project
    assert "version" in project.get("dynamic", [])
    assert setup_functions()["header_version"]() == header_version() == snncore.__version__
    assert re.search(r"setup\((.|\n)*\bversion\s*=\s*header_version\(\)", read("setup.py"))


def test_meson_takes_the_version_from_the_header():
    # (not through _strip_meson_comments: the command's "#define" would go too)
    m = re.search(r"^project\((.*?)\n\s*meson_version", read("meson.build"), re.DOTALL | re.MULTILINE)
    assert m, "meson.build's project() does not start with the name and version"
    assert "SNN_VERSION_STRING" in m.group(1) and "csrc/include/snn.h" in m.group(1)


def test_header_version_parts_agree_with_the_string():
    text = read("csrc/include/snn.h")
    parts = [re.search(r"^#define\s+SNN_VERSION_%s\s+(\d+)\s*$" % p, text, re.MULTILINE)
             for p in ("MAJOR", "MINOR", "PATCH")]
    assert all(parts), "snn.h lacks SNN_VERSION_MAJOR/MINOR/PATCH"
    assert ".".join(m.group(1) for m in parts) == header_version()


def test_format_version_agrees():
    from snncore import _core, _limits
    m = re.search(r"^#define\s+SNN_FORMAT_VERSION\s+(\d+)", read("csrc/include/snn.h"),
                  re.MULTILINE)
    assert m and int(m.group(1)) == _limits.FORMAT_VERSION == _core.FORMAT_VERSION


# ---------------------------------------------------------------------------
# The C core knows nothing of Python
# ---------------------------------------------------------------------------

def test_csrc_does_not_use_python():
    offenders = []
    n_files = 0
    for dirpath, _, files in os.walk(os.path.join(ROOT, "csrc")):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                data = f.read()
            n_files += 1
            for needle in (b"Python.h", b"PyObject"):
                if needle in data:
                    offenders.append((os.path.relpath(path, ROOT), needle.decode()))
    assert n_files >= len(source_files()) + 1     # the sources and at least snn.h
    assert not offenders, offenders


# ---------------------------------------------------------------------------
# The C files call each other without a loop
# ---------------------------------------------------------------------------

def _strip_c(text):
    """C source without comments, string and character literals, and
    preprocessor lines (their names are not calls)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.DOTALL)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\\n])*'", "''", text)
    return re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.MULTILINE)


# A definition starts at column 0 (with its return type, or on the line below
# it) and ends its parameter list with "{" (a declaration ends with ";").
_DEFINITION = re.compile(r"^(?:[A-Za-z_][\w \t\*]*?)?\b(snn_\w+)\s*\(([^;{}]*?)\)\s*\{",
                         re.MULTILINE)
_CALL = re.compile(r"\b(snn_\w+)\s*\(")
_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)\(((?:[^\n]*\\\n)*[^\n]*)", re.MULTILINE)


def _macro_calls():
    """{macro: the snn_ functions its body calls}, for the function-like macros
    of the engine's headers (RETURN_ERROR_IF calls snn__set_error)."""
    calls = {}
    for header in ("csrc/include/snn.h", "csrc/src/internal.h"):
        for m in _MACRO.finditer(read(header)):
            called = set(_CALL.findall(m.group(2)))
            if called:
                calls[m.group(1)] = called
    return calls


def c_call_graph():
    """({file: set of other files it calls}, {function: files defining it}),
    for csrc/src/*.c: file A calls file B if A calls a snn_ or snn__ function
    that B defines, directly or through a macro of the headers (static inline
    functions of headers belong to no .c file)."""
    texts = {os.path.basename(f): _strip_c(read(f)) for f in source_files()}
    macros = _macro_calls()
    defined_in = {}
    for name, text in texts.items():
        for m in _DEFINITION.finditer(text):
            defined_in.setdefault(m.group(1), set()).add(name)
    graph = {}
    for name, text in texts.items():
        definitions = {m.start(1) for m in _DEFINITION.finditer(text)}
        called = {m.group(1) for m in _CALL.finditer(text) if m.start(1) not in definitions}
        for macro, functions in macros.items():
            if re.search(r"\b%s\s*\(" % re.escape(macro), text):
                called |= functions
        graph[name] = {f for c in called for f in defined_in.get(c, ()) if f != name}
    return graph, defined_in


def find_cycle(graph):
    """A list of nodes forming a cycle of `graph`, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_c_files_call_each_other_without_a_loop():
    graph, _ = c_call_graph()
    assert find_cycle(graph) is None, f"csrc/src calls in a loop: {' -> '.join(find_cycle(graph))}"


def test_the_call_graph_check_is_able_to_fail():
    """The parser finds the definitions and calls the engine is built of, and
    the cycle search finds a loop."""
    graph, defined_in = c_call_graph()
    for function, name in [("snn_run_batch", "runner.c"), ("snn_runner_create", "runner.c"),
                           ("snn__team_sync", "sync.c"), ("snn__step", "run.c"),
                           ("snn__team_job_member", "team.c"), ("snn__batch_images", "batch.c"),
                           ("snn__set_error", "error.c")]:
        assert defined_in.get(function) == {name}, (function, defined_in.get(function))
    assert {"sync.c", "team.c", "batch.c"} <= graph["runner.c"], graph["runner.c"]
    assert "error.c" in graph["batch.c"], graph["batch.c"]     # through RETURN_ERROR_IF
    assert {"run.c", "sync.c"} <= graph["team.c"], graph["team.c"]
    assert "sync.c" in graph["run.c"] and not graph["sync.c"] & {"run.c", "team.c", "runner.c"}
    assert find_cycle({"a.c": {"b.c"}, "b.c": {"c.c"}, "c.c": {"a.c"}}) == [
        "a.c", "b.c", "c.c", "a.c"]
    assert find_cycle({"a.c": {"b.c"}, "b.c": set(), "c.c": {"a.c", "b.c"}}) is None
