"""Headless Chromium driven over the DevTools protocol: open a page with a cookie, wait for a
condition in the page, then take its DOM and a screenshot.

`chromium --dump-dom` returns at the load event, before a single-page app such as Superset has
fetched and drawn its charts, and it cannot carry a login cookie; the DevTools protocol does both.
"""

from __future__ import annotations

import base64
import json
import struct
import subprocess
import time
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class RenderedPage:
    """What the browser showed: the DOM after the wait, a PNG screenshot, and the value of the
    probe expression evaluated in the page."""

    dom: str
    screenshot: bytes
    probe: Any
    waited_s: float


class DevTools:
    """One page target's DevTools session (commands only; events are skipped)."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextmanager
def chromium(profile: Path, *, width: int = 1600, height: int = 2200) -> Iterator[DevTools]:
    """A headless Chromium with its own profile; yields a DevTools session on its first page."""
    profile.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"Chromium did not open its DevTools port ({port_file})")
            time.sleep(0.2)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=64 * 2**20) as socket:
            yield DevTools(socket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def render(
    url: str,
    *,
    profile: Path,
    cookies: dict[str, str],
    ready: str,
    probe: str = "null",
    timeout_s: float = 120,
    settle_s: float = 2.0,
) -> RenderedPage:
    """Open `url` with `cookies` set for its origin, wait until the JavaScript expression `ready`
    is true (then `settle_s` more for drawing), and return the DOM, a screenshot and the value of
    the JavaScript expression `probe`."""
    with chromium(profile) as page:
        page.call("Network.enable")
        for name, value in cookies.items():
            page.call("Network.setCookie", name=name, value=value, url=url, path="/")
        page.call("Page.enable")
        began = time.monotonic()
        page.call("Page.navigate", url=url)
        while not page.evaluate(f"Boolean({ready})"):
            if time.monotonic() - began > timeout_s:
                dom = page.evaluate("document.documentElement.outerHTML")
                raise TimeoutError(
                    f"{url}: `{ready}` not true after {timeout_s:.0f}s; DOM:\n{dom[-3000:]}"
                )
            time.sleep(0.5)
        waited = time.monotonic() - began
        time.sleep(settle_s)
        dom = page.evaluate("document.documentElement.outerHTML")
        probed = page.evaluate(probe)
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    return RenderedPage(
        dom=dom, screenshot=base64.b64decode(shot["data"]), probe=probed, waited_s=waited
    )


def png_pixels(png: bytes) -> np.ndarray:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG into a (height, width, channels) array."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", None
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 1:  # Sub: a running sum along the pixels
            row = np.cumsum(line.reshape(width, channels), axis=0).reshape(stride) % 256
        elif kind == 2:  # Up
            row = (line + previous) % 256
        else:  # Average, Paeth: sequential along the row
            row = np.zeros(stride, dtype=np.int32)
            out, up = row, previous
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                if kind == 3:
                    out[x] = (line[x] + (left + up[x]) // 2) % 256
                else:
                    upper_left = up[x - channels] if x >= channels else 0
                    estimate = left + up[x] - upper_left
                    pa, pb, pc = (
                        abs(estimate - left),
                        abs(estimate - up[x]),
                        abs(estimate - upper_left),
                    )
                    predictor = left if pa <= pb and pa <= pc else up[x] if pb <= pc else upper_left
                    out[x] = (line[x] + predictor) % 256
        image[y] = row
        previous = row.astype(np.int32)
    return image.reshape(height, width, channels)
