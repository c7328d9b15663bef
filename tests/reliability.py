"""Helpers for the reliability tests and the load benchmark: HTTP on 127.0.0.1 without
redirects followed, the server's RSS, forged Dash callback requests, hostile data files.
"""

from __future__ import annotations

import io
import json
import struct
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from urllib.parse import urlparse

import numpy as np


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 303 is an answer to look at, not to follow


_OPENER = urllib.request.build_opener(_NoRedirect)


def call(url, body=None, method=None, headers=None, timeout=120):
    """(status, headers, parsed JSON or raw bytes) of one request."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    hdrs = {"Content-Type": "application/json"} if data is not None and not isinstance(body, bytes) else {}
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with _OPENER.open(req, timeout=timeout) as r:
            status, h, raw = r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        status, h, raw = exc.code, dict(exc.headers), exc.read()
    if h.get("Content-Type", "").startswith("application/json"):
        return status, h, json.loads(raw)
    return status, h, raw


def project(base, body, timeout=300, seen_positions=None):
    """POST a projection, follow its status to the result; (202 body, result)."""
    status, headers, submitted = call(base + "/api/projections", body)
    assert status == 202, (status, submitted)
    assert headers["Location"] == submitted["status_url"]
    deadline = time.time() + timeout
    while True:
        status, headers, st = call(base + submitted["status_url"])
        if seen_positions is not None and "position" in st:
            seen_positions.append(st["position"])
        if status == 303:
            break
        assert status == 200 and st["state"] in ("queued", "running", "unknown"), (status, st)
        assert time.time() < deadline, f"projection not done after {timeout} s: {st}"
        time.sleep(0.2)
    status, _, result = call(base + headers["Location"])
    assert status == 200, result
    return submitted, result


def server_pid(base) -> int:
    """The pid of the process listening on ``base``'s port (the app under test)."""
    import psutil

    port = urlparse(base).port
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return conn.pid
    raise RuntimeError(f"nothing listens on port {port}")


def rss_mb(pid) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / (1 << 20)


def healthy(base, timeout=60) -> bool:
    status, _, body = call(base + "/health", timeout=timeout)
    return status == 200 and body["status"] == "ok"


# --- forged Dash callback requests ------------------------------------------------------------
def callback_specs(base) -> list[dict]:
    status, _, deps = call(base + "/_dash-dependencies")
    assert status == 200
    return deps


def forge(base, specs, output_prefix: str, values: dict, timeout=120):
    """POST the callback whose output starts with ``output_prefix`` with ``values``
    (``"id.prop" -> value``; others None), as a browser (or a forger) would."""
    spec = next(s for s in specs if s["output"].lstrip(".").startswith(output_prefix))

    def fill(items):
        return [{"id": i["id"], "property": i["property"],
                 "value": values.get(f"{i['id']}.{i['property']}")} for i in items]

    outs = [o for o in spec["output"].strip(".").split("...") if o]
    outputs = [{"id": o.rsplit(".", 1)[0].split("@")[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in outs]
    body = {"output": spec["output"], "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": fill(spec["inputs"]), "state": fill(spec["state"]),
            "changedPropIds": [f"{i['id']}.{i['property']}" for i in spec["inputs"]
                               if f"{i['id']}.{i['property']}" in values]}
    start = time.time()
    status, _, answer = call(base + "/_dash-update-component", body, timeout=timeout)
    return status, answer, time.time() - start


# --- hostile data -----------------------------------------------------------------------------
def npy_header(shape, dtype="|u1") -> bytes:
    """A version-1.0 ``.npy`` header for ``shape`` (the data is the caller's)."""
    text = repr({"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    pad = 64 - (10 + len(text) + 1) % 64
    text = text + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def npz_bomb(path, unpacked: int = 512 << 20):
    """``x`` of ``unpacked`` zero bytes deflated to well under 1 MB, and a small ``y``."""
    n = unpacked // 3072
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as f:
            f.write(npy_header((n, 32, 32, 3)))
            block = bytes(3072 * 1024)
            for _ in range(n // 1024):
                f.write(block)
            f.write(bytes(3072 * (n % 1024)))
        zf.writestr("y.npy", npy_header((n,), "<i8") + bytes(8 * n))
    return path


def npz_lying_header(path, claimed=(1_000_000, 32, 32, 3)):
    """``x.npy`` whose header claims gigabytes and whose data is a few bytes."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", npy_header(claimed) + bytes(16))
        zf.writestr("y.npy", npy_header((2,), "<i8") + bytes(16))
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header says ``width``×``height`` and that holds one tiny IDAT: a
    decompression bomb as far as any decoder that trusts the header is concerned."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def big_png(side: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(side, dtype=np.uint8), (side, 1)), "L").save(buf, "PNG")
    return buf.getvalue()


def small_npz(path, n=200, seed=0):
    """``n`` random 32×32×3 images of 10 classes (labels ``i % 10``)."""
    rng = np.random.default_rng(seed)
    np.savez(path, x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), y=np.arange(n) % 10)
    return path


def multipart(path_name: str, data: bytes) -> tuple[bytes, dict]:
    boundary = "deeplingboundary7d3f"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{path_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def upload(base, name: str, data: bytes, cookie: str | None = None, kind="datasets"):
    body, headers = multipart(name, data)
    if cookie:
        headers["Cookie"] = f"deepling_sid={cookie}"
    status, _, answer = call(f"{base}/api/{kind}", body, headers=headers, timeout=300)
    return status, answer
