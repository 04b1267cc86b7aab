#!/usr/bin/env python3
"""Fails when the modules of a workspace crate depend on each other in a cycle.

For every crate under crates/, each source file is a module (`a/b.rs` and
`a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` is the root). A module depends on
another when it names it through `crate::…`, `super::…` or a bare path of a
sibling declared with `mod`. The crate root is left out (it only declares and
re-exports), and so are `#[cfg(test)]` blocks. A cycle is printed as
`crate: a -> b -> a`. Usage: check_module_cycles.py [REPO_ROOT]
"""

import pathlib
import re
import sys


def module_name(src: pathlib.Path, file: pathlib.Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod … { … }` blocks (brace-matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def resolve(modules: set, path: tuple) -> tuple:
    """The longest known module that `path` starts with."""
    for n in range(len(path), 0, -1):
        if path[:n] in modules:
            return path[:n]
    return ()


def edges_of(modules: set, me: tuple, text: str) -> set:
    deps = set()
    for m in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
        head, rest = m.group(1), m.group(2).split("::")[1:]
        if head == "crate":
            base = ()
        else:
            base = me[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        target = resolve(modules, base + tuple(rest))
        if target and target != me and me[: len(target)] != target:
            deps.add(target)
    # `use` of a brace group: crate::{a::X, b::Y}
    for m in re.finditer(r"\bcrate::\{([^}]*)\}", text):
        for item in m.group(1).split(","):
            target = resolve(modules, tuple(p for p in item.strip().split("::") if p))
            if target and target != me and me[: len(target)] != target:
                deps.add(target)
    return deps


def cycles(graph: dict) -> list:
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    failed = False
    for src in sorted(root.glob("crates/*/src")):
        files = sorted(src.rglob("*.rs"))
        modules = {module_name(src, f) for f in files} - {()}
        graph = {}
        for f in files:
            me = module_name(src, f)
            if me == ():
                continue
            text = strip_comments(strip_tests(f.read_text()))
            graph[me] = edges_of(modules, me, text)
        for cycle in cycles(graph):
            failed = True
            names = " -> ".join("::".join(m) for m in cycle)
            print(f"{src.parent.name}: module cycle {names}")
    if not failed:
        print("no module cycles")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
