"""A tiny text overlay in GL: Pillow's built-in font rasterised into a glyph atlas at start-up,
text laid out on the CPU and drawn as textured quads (skyviewer/shaders/hud.*) in one draw call.

No font files and no new dependencies: `ImageFont.load_default(size)` is the DejaVu-derived
font Pillow ships. Panels behind the text use the atlas's solid texel, so they are quads of
the same draw call.
"""

from __future__ import annotations

from dataclasses import dataclass

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from skyviewer.render.shaders import ShaderLibrary

Color = tuple[float, float, float, float]
CHARS = "".join(chr(c) for c in range(32, 127))
"""The printable ASCII range; anything else is drawn as '?'."""
WHITE: Color = (1.0, 1.0, 1.0, 1.0)
PANEL: Color = (0.0, 0.0, 0.0, 0.6)
PAD = 8.0
"""Panel padding around the text, pixels."""


@dataclass(frozen=True)
class TextLine:
    """One line of overlay text."""

    text: str
    color: Color = WHITE


class GlyphAtlas:
    """Coverage bitmaps of CHARS in one row of fixed-size cells, with each glyph's advance."""

    def __init__(self, size_px: int) -> None:
        font = ImageFont.load_default(size=size_px)
        ascent, descent = font.getmetrics()
        self.line_height = ascent + descent + 2
        self.cell = (max(int(font.getbbox(c)[2]) for c in CHARS) + 2, self.line_height)
        width = self.cell[0] * (len(CHARS) + 1)  # + one solid cell for panels
        image = Image.new("L", (width, self.cell[1]), 0)
        draw = ImageDraw.Draw(image)
        for i, c in enumerate(CHARS):
            draw.text((i * self.cell[0] + 1, 1), c, fill=255, font=font)
        image.paste(255, (len(CHARS) * self.cell[0], 0, width, self.cell[1]))
        self.bitmap = np.asarray(image)
        self.advance = {c: font.getlength(c) for c in CHARS}

    def cell_uv(self, index: int) -> tuple[float, float, float, float]:
        """(u0, v0, u1, v1) of cell `index` (len(CHARS) is the solid cell)."""
        w = self.bitmap.shape[1]
        return index * self.cell[0] / w, 0.0, (index + 1) * self.cell[0] / w, 1.0

    def width(self, text: str) -> float:
        return sum(self.advance.get(c, self.advance["?"]) for c in text)


class TextOverlay:
    """Draws panels of text lines into a framebuffer, over what is already there."""

    def __init__(self, ctx: moderngl.Context, shaders: ShaderLibrary, size_px: int = 14) -> None:
        self.ctx = ctx
        self.atlas = GlyphAtlas(size_px)
        self.program = shaders.program("hud.vert", "hud.frag")
        self.texture = ctx.texture(self.atlas.bitmap.shape[::-1], 1, self.atlas.bitmap.tobytes())
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)  # glyphs at 1:1 pixel size
        self._vertices: list[tuple[float, ...]] = []  # x, y, u, v, r, g, b, a per vertex
        # Laying text out is Python per glyph (~1 ms a frame for the HUD): a panel drawn again as it
        # was reuses last frame's vertices, and an unchanged frame of them last frame's buffer.
        self._panels: dict[tuple, np.ndarray] = {}
        self._drawn_panels: dict[tuple, np.ndarray] = {}
        self._queued: list[np.ndarray] = []
        self._buffer: moderngl.Buffer | None = None
        self._vao: moderngl.VertexArray | None = None
        self._uploaded: np.ndarray | None = None

    def measure(self, lines: list[TextLine], pad: float = PAD) -> tuple[float, float]:
        """(width, height) in pixels of the panel that panel() would draw for `lines`."""
        column = self._column(lines)
        widths = [column + self.atlas.width(line.text.split("\t")[-1]) for line in lines]
        return max(widths, default=0.0) + 2 * pad, len(lines) * self.atlas.line_height + 2 * pad

    def panel(self, x: float, y: float, lines: list[TextLine], pad: float = PAD) -> tuple[float, float]:
        """Queue a dark panel at (x, y) (pixels, top left) holding `lines`; returns its size.
        A tab splits a line into two columns; the second starts at the same x on every line."""
        w, h = self.measure(lines, pad)
        key = (x, y, tuple(lines), pad)
        vertices = self._panels.get(key)
        if vertices is None:
            self._quad((x, y, x + w, y + h), self.atlas.cell_uv(len(CHARS)), PANEL)
            column = self._column(lines)
            for row, line in enumerate(lines):
                top = y + pad + row * self.atlas.line_height
                first, tab, second = line.text.partition("\t")
                self._text(x + pad, top, first, line.color)
                if tab:
                    self._text(x + pad + column, top, second, line.color)
            vertices, self._vertices = np.array(self._vertices, np.float32), []
        self._drawn_panels[key] = vertices
        self._queued.append(vertices)
        return w, h

    def _column(self, lines: list[TextLine]) -> float:
        """x offset of the second column: the widest first column plus two spaces."""
        firsts = [line.text.split("\t")[0] for line in lines if "\t" in line.text]
        return max((self.atlas.width(f + "  ") for f in firsts), default=0.0)

    def _text(self, x: float, y: float, text: str, color: Color) -> None:
        a = self.atlas
        for c in text:
            c = c if c in a.advance else "?"
            x0 = round(x) - 1  # glyphs sit 1 px into their cell
            self._quad((x0, y, x0 + a.cell[0], y + a.cell[1]), a.cell_uv(CHARS.index(c)), color)
            x += a.advance[c]

    def _quad(self, rect, uv, color: Color) -> None:
        x0, y0, x1, y1 = rect
        u0, v0, u1, v1 = uv
        corners = [(x0, y0, u0, v0), (x1, y0, u1, v0), (x1, y1, u1, v1), (x0, y1, u0, v1)]
        self._vertices.extend((*corners[i], *color) for i in (0, 1, 2, 0, 2, 3))

    def draw(self, framebuffer: moderngl.Framebuffer) -> None:
        """Draw everything queued since the last draw, alpha-blended, then clear the queue."""
        self._panels, self._drawn_panels = self._drawn_panels, {}
        if not self._queued:
            return
        data = np.concatenate(self._queued)
        self._queued = []
        if self._uploaded is None or not np.array_equal(data, self._uploaded):
            self._release_buffer()
            self._buffer = self.ctx.buffer(data.tobytes())
            layout = [(self._buffer, "2f 2f 4f", "in_position", "in_uv", "in_color")]
            self._vao = self.ctx.vertex_array(self.program, layout)
            self._uploaded = data
        framebuffer.use()
        self.program["viewport"].value = framebuffer.size
        self.program["atlas"].value = 0
        self.texture.use(0)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self._vao.render(moderngl.TRIANGLES)
        self.ctx.disable(moderngl.BLEND)

    def _release_buffer(self) -> None:
        for obj in (self._vao, self._buffer):
            if obj is not None:
                obj.release()
        self._vao = self._buffer = self._uploaded = None

    def release(self) -> None:
        self._release_buffer()
        self.texture.release()
