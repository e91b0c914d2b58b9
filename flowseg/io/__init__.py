"""Where media comes in and goes out.

- :mod:`~flowseg.io.frames`: :class:`FrameSource`, the frames of a video file
  or an image folder, RGB, one at a time;
- :mod:`~flowseg.io.video`: FFmpeg (PyAV) decoding with trustworthy
  timestamps, and encoding with the source's times and audio;
- :mod:`~flowseg.io.outputs`: output folders that appear only when complete
  (:class:`ResultWriter`, :class:`PredictionWriter`);
- :mod:`~flowseg.io.preview`: overlays and mattes;
- :mod:`~flowseg.io.tracks`, :mod:`~flowseg.io.coco`,
  :mod:`~flowseg.io.timeline`: tracks JSON, COCO run-length encoding, and
  shot lists as EDL and OpenTimelineIO.
"""

from .frames import FOLDER_FPS, IMAGE_EXTENSIONS, FrameSource
from .outputs import ALPHA_FORMATS, OutputFolder, PredictionWriter, ResultWriter
from .preview import feathered_alpha, instance_colours, instance_overlay, overlay
from .video import VIDEO_FORMATS, FrameTime, VideoEncoder, VideoInfo, VideoReader, probe

__all__ = ["FrameSource", "IMAGE_EXTENSIONS", "FOLDER_FPS", "ResultWriter", "PredictionWriter", "OutputFolder",
           "ALPHA_FORMATS", "overlay", "instance_overlay", "instance_colours", "feathered_alpha", "FrameTime",
           "VideoInfo", "VideoReader", "VideoEncoder", "VIDEO_FORMATS", "probe"]
