"""SkySim: the built-in physically based sky simulator (Preetham sky, twilight, real sun
position, evolving cumulus and cirrus layers). See docs/skysim.md."""

from skyviewer.data.skysim.config import SimConfig
from skyviewer.data.skysim.sim import SkySim

__all__ = ["SimConfig", "SkySim"]
