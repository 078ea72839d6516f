"""What a recording frame shows: the dome rendered through the view's projection."""

from __future__ import annotations

from dataclasses import replace

import moderngl
import numpy as np

from skyviewer.record.config import RecordConfig
from skyviewer.render.camera import Camera
from skyviewer.render.dome import DomeRenderer, DomeSettings, DomeView
from skyviewer.render.lighting import SkyLighting
from skyviewer.render.projections import CubeFaceCamera, PanoramaCamera, Projection
from skyviewer.render.scene import LookDevScene, render_with_scene
from skyviewer.render.targets import OffscreenTarget

PROJECTIONS = {
    "camera": Projection.PERSPECTIVE,
    "cube": Projection.PERSPECTIVE,
    "equirect": Projection.EQUIRECT,
    "fisheye": Projection.FISHEYE,
}


class ViewRenderer:
    """The dome in the view's projection, an offscreen target, and the cameras of each frame."""

    def __init__(self, ctx: moderngl.Context, config: RecordConfig, sky_size: int) -> None:
        settings = DomeSettings()
        if config.exposure_stops is not None:
            settings = replace(settings, exposure_stops=config.exposure_stops)
        self.config = config
        self.dome = DomeRenderer(ctx, sky_size, settings, projection=PROJECTIONS[config.view])
        self.target = OffscreenTarget(ctx, config.size, hdr=config.format == "exr")
        # Lighting is baked for the scene, and for cube EXRs (their sidecar JSON: SH and sun).
        wants_lighting = config.scene or (config.view == "cube" and config.format == "exr")
        self.lighting = SkyLighting(ctx, sky_size) if wants_lighting else None
        self.scene = LookDevScene(ctx, projection=PROJECTIONS[config.view]) if config.scene else None

    def cameras(self, frame_index: int) -> list:
        """The camera(s) of one frame: one, or the six cube faces in OpenGL order."""
        c = self.config
        if c.view == "camera":
            return [Camera(c.yaw_at(frame_index), c.pitch_deg, c.fov_y_deg)]
        if c.view == "cube":
            return [CubeFaceCamera(face) for face in range(6)]
        return [PanoramaCamera()]

    def render(self, frame_index: int, view: DomeView, hdr: bool) -> list[np.ndarray]:
        """The frame's images: display uint8, or linear radiance float32 (nits) when hdr."""
        images = []
        for camera in self.cameras(frame_index):
            framed = replace(view, camera=camera)
            render_with_scene(self.dome, self.target.framebuffer, framed, self.scene, self.lighting)
            images.append(self.target.read_radiance() if hdr else self.target.read_display())
        return images

    def push_frame(self, frame) -> None:
        """A model frame (SkyFrame) to the dome, and its lighting baked where it is needed."""
        self.dome.push_frame(frame.radiance)
        if self.lighting is not None:
            self.lighting.push(self.dome.sky.next, frame.sun_dir)

    def release(self) -> None:
        for obj in (self.lighting, self.scene):
            if obj is not None:
                obj.release()
        self.dome.release()
        self.target.release()
