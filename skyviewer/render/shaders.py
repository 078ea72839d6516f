"""GLSL sources from skyviewer/shaders/, with a tiny `#include "file.glsl"` resolver, and a program cache.

GLSL has no include directive of its own. Ours is resolved before compilation: each included
file is inlined once (a second include of the same file is dropped, so shared pieces need no
guards), paths are relative to the including file, and a `#line` after every inlined piece keeps
compiler messages pointing at the right line of the file they name.
"""

from __future__ import annotations

import re
from pathlib import Path

import moderngl

from skyviewer.errors import UserError

SHADER_DIR = Path(__file__).resolve().parents[1] / "shaders"
"""skyviewer/shaders/: package data, so an installed viewer has them (the GLSL is also what the
Unity/Unreal samples are generated from)."""

_INCLUDE = re.compile(r'^\s*#include\s+"([^"]+)"\s*$')


def resolve_includes(path: Path) -> str:
    """Source of `path` with every `#include "name"` inlined (each file at most once)."""
    return _resolve(Path(path).resolve(), seen=set(), stack=())


def _resolve(path: Path, seen: set[Path], stack: tuple[Path, ...]) -> str:
    if path in stack:
        chain = " -> ".join(p.name for p in (*stack, path))
        raise UserError(f"{path}: #include cycle ({chain})")
    if path in seen:
        return ""
    seen.add(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        where = f" (included from {stack[-1]})" if stack else ""
        raise UserError(f"{path}: cannot read shader source{where}: {exc.strerror}") from exc
    out = []
    for number, line in enumerate(lines, start=1):
        match = _INCLUDE.match(line)
        if match is None:
            out.append(line)
            continue
        out.append(f"// begin {match.group(1)}")
        out.append(_resolve((path.parent / match.group(1)).resolve(), seen, (*stack, path)))
        out.append(f"#line {number + 1}")  # back in this file, on the line after the include
    return "\n".join(out) + "\n"


def with_defines(source: str, defines: dict[str, int | float] | None) -> str:
    """`source` with a `#define` line per entry right after its `#version` line (GLSL wants the
    version first), and `#line 2` so messages keep the file's own line numbers."""
    if not defines:
        return source
    version, rest = source.split("\n", 1)
    lines = [f"#define {name} {value}" for name, value in sorted(defines.items())]
    return "\n".join([version, *lines, "#line 2", rest])


class ShaderLibrary:
    """Programs built from files under `root`, each compiled once per context and then reused."""

    def __init__(self, ctx: moderngl.Context, root: Path = SHADER_DIR) -> None:
        self.ctx = ctx
        self.root = Path(root)
        self._programs: dict[tuple, moderngl.Program] = {}

    def program(
        self, vertex: str, fragment: str, defines: dict[str, int | float] | None = None
    ) -> moderngl.Program:
        """The linked program of two shader files (names relative to root), compiled with
        `#define NAME VALUE` for each of `defines` (variants of one source, e.g. VIEW_PROJECTION)."""
        key = (vertex, fragment, *sorted((defines or {}).items()))
        if key not in self._programs:
            self._programs[key] = self.build({"vertex_shader": vertex, "fragment_shader": fragment}, defines)
        return self._programs[key]

    def build(
        self, stages: dict[str, str], defines: dict[str, int | float] | None = None
    ) -> moderngl.Program:
        """A new program of its own (not the shared one program() returns: for a user that sets
        uniforms once and keeps them) from shader files by stage, moderngl's keywords
        (vertex_shader, geometry_shader, fragment_shader) -> names relative to root."""
        sources = {
            stage: with_defines(resolve_includes(self.root / name), defines) for stage, name in stages.items()
        }
        try:
            return self.ctx.program(**sources)
        except moderngl.Error as exc:
            raise UserError(
                f"{self.root}: cannot build program {' + '.join(stages.values())}:\n{exc}"
            ) from exc
