"""PNG drawing (badges and social cards) with cairosvg, and the child process that does it for
a build: started only when some PNG must be drawn (a reused PNG needs none), it runs this
module alone (`python -m build.render.worker`: cairosvg and the standard library, ~30 MB), not
a forked copy of the build, whose memory central adds up. It draws while the build renders the
rest. SVG bytes go in and PNG bytes come back, each framed by its length; a batch opens with a
JSON line of cairosvg's options and its size."""
from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from build.errors import BuildError

ROOT = Path(__file__).resolve().parents[2]  # the child runs here, so `build` is this package
_LENGTH_BYTES = 8
EXIT_TIMEOUT_S = 30


def draw_png(svg: bytes, options: dict) -> bytes:
    """PNG bytes of svg; options are cairosvg.svg2png's (scale, output_width, ...)."""
    import cairosvg  # here: it takes ~0.5 s to import, and most builds draw nothing

    return cairosvg.svg2png(bytestring=svg, **options)


class PngDrawer:
    """Hands batches of SVGs to the drawing child, started at the first batch; one batch at a
    time through its pipes, by a thread of this process."""

    def __init__(self) -> None:
        self._child: subprocess.Popen | None = None
        self._exchange = ThreadPoolExecutor(1)

    def submit(self, svgs: list[bytes], options: dict) -> Callable[[], list[bytes]]:
        """Returns a function giving the PNGs of svgs, in order, once drawn. Raises BuildError
        (from it) when the child fails."""
        if self._child is None:
            self._child = subprocess.Popen([sys.executable, "-m", "build.render.worker"],
                                           cwd=ROOT, stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE)
        drawn = self._exchange.submit(_exchange, self._child, svgs, options)
        return drawn.result

    def close(self) -> None:
        self._exchange.shutdown()
        if self._child is not None:
            try:
                self._child.stdin.close()  # the child's end of input: it exits
            except OSError:  # it is gone already (its failure is the build's error)
                pass
            try:
                self._child.wait(EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()


@contextmanager
def png_drawer() -> Iterator[PngDrawer]:
    drawer = PngDrawer()
    try:
        yield drawer
    finally:
        drawer.close()


def _exchange(child: subprocess.Popen, svgs: list[bytes], options: dict) -> list[bytes]:
    try:
        child.stdin.write(json.dumps({"options": options, "count": len(svgs)}).encode() + b"\n")
        for svg in svgs:
            _write_frame(child.stdin, svg)
        child.stdin.flush()
        return [_read_frame(child.stdout) for _ in svgs]
    except (OSError, EOFError) as exc:
        raise BuildError(f"the PNG drawing process (build/render/worker.py) failed: "
                         f"{exc or 'it ended early'}") from exc


def _write_frame(out: BinaryIO, data: bytes) -> None:
    out.write(len(data).to_bytes(_LENGTH_BYTES, "big"))
    out.write(data)


def _read_frame(src: BinaryIO) -> bytes:
    size = int.from_bytes(_read_exactly(src, _LENGTH_BYTES), "big")
    return _read_exactly(src, size)


def _read_exactly(src: BinaryIO, size: int) -> bytes:
    data = src.read(size)
    if len(data) != size:
        raise EOFError()
    return data


def serve(src: BinaryIO, out: BinaryIO) -> None:
    """The child: batches from src drawn onto out until src ends."""
    while header := src.readline():
        batch = json.loads(header)
        svgs = [_read_frame(src) for _ in range(batch["count"])]
        for svg in svgs:
            _write_frame(out, draw_png(svg, batch["options"]))
        out.flush()


if __name__ == "__main__":
    if sys.platform == "linux":
        # cairocffi asks ctypes.util.find_library for libcairo first, which on Linux runs
        # ldconfig and gcc as child processes (~0.3 s, and memory central adds up); without an
        # answer it opens libcairo.so.2 by its soname, which the loader finds just as well.
        ctypes.util.find_library = lambda name: None
    serve(sys.stdin.buffer, sys.stdout.buffer)
