"""Which path model frames take into the GL texture: a host copy, or CUDA-OpenGL interop.

Placeholder selection until the interop path lands: every machine uses the host copy."""

from __future__ import annotations


def upload_path(model, ctx) -> str:
    return "host copy"
