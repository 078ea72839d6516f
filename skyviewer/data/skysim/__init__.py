"""SkySim: the built-in physically based sky simulator (Preetham sky, twilight, real sun
position, evolving cumulus and cirrus layers). See docs/skysim.md."""

from skyviewer.data.skysim.config import SimConfig
from skyviewer.data.skysim.sim import SkySim
from skyviewer.data.skysim.solar import solar_position, sun_direction

__all__ = ["SimConfig", "SkySim", "solar_position", "sun_direction"]
