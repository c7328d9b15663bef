"""The one browser harness: headless Chromium, the real app started as a user starts it,
and waits that poll a condition (never a fixed sleep).

Chromium and ChromeDriver are Debian's (/usr/bin/chromium, /usr/bin/chromedriver; CI
installs them). The flags keep Chromium off the network, which this machine does not have.
Used by the app's browser tests and by ``test_layer_scatter_js.py`` (the renderer alone).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DEEPLING_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DEEPLING_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--enable-unsafe-swiftshader")


def make_driver(extra_flags=(), window_size=(1400, 1000)):
    """A selenium Chrome driver on Debian's Chromium, with browser console logs captured."""
    from selenium import webdriver

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise RuntimeError(f"Browser tests need {CHROMIUM} and {CHROMEDRIVER} "
                           "(apt install chromium chromium-driver).")
    profile = tempfile.mkdtemp(prefix="deepling-chrome-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    size = f"--window-size={window_size[0]},{window_size[1]}"
    for flag in (*CHROME_FLAGS, size, *extra_flags, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:  # selenium 4
        from selenium.webdriver.chrome.service import Service

        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except TypeError:  # selenium 3
        from selenium.webdriver.remote.remote_connection import RemoteConnection

        RemoteConnection.set_timeout(120)  # 3.141 hands urllib3 2.x a sentinel timeout it rejects
        driver = webdriver.Chrome(executable_path=CHROMEDRIVER, options=options,
                                  desired_capabilities=options.to_capabilities())
    driver._deepling_profile = profile
    return driver


def quit_driver(driver) -> None:
    driver.quit()
    shutil.rmtree(getattr(driver, "_deepling_profile", ""), ignore_errors=True)


def console_errors(driver) -> list[str]:
    """SEVERE browser console entries (JS errors, failed requests)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(*args: str, timeout: float = 240, env: dict | None = None, port: int | None = None):
    """Start ``python run.py ARGS`` on ``port`` (default a free one); yield its base URL; stop
    it after."""
    port = port or free_port()
    log = tempfile.NamedTemporaryFile(prefix="deepling-app-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--port", str(port), *args],
                            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app exited with {proc.returncode}:\n{Path(log.name).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"app not up after {timeout} s:\n{Path(log.name).read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.unlink(log.name)


def wait_for(driver, script, timeout=60, message="condition", interval=0.25, state=None):
    """Poll JS (``return …``) until it is truthy; return its value.

    ``state``: JS returning what to report about the page when the wait times out.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"; page state {driver.execute_script(state)}" if state else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {message}{detail}")
        time.sleep(interval)


def animation_frames(driver, n: int = 10) -> None:
    """Wait until the browser has drawn ``n`` display frames (requestAnimationFrame): enough
    for anything scheduled to have run, without guessing a time."""
    driver.execute_async_script("""const done = arguments[arguments.length - 1];
        let left = arguments[0];
        const tick = () => (--left <= 0 ? done(true) : requestAnimationFrame(tick));
        requestAnimationFrame(tick);""", n)


def drawn_pixels(driver, scatter: str) -> int:
    """How many pixels of a LayerScatter's frame (``scatter``: a JS expression for it) are
    not the white background: a non-blank WebGL frame has many."""
    return driver.execute_async_script(f"""
        const done = arguments[arguments.length - 1];
        const img = new Image();
        img.src = ({scatter}).toPNG({{background: '#ffffff'}});
        img.decode().then(() => {{
          const c = document.createElement('canvas');
          c.width = img.width; c.height = img.height;
          const g = c.getContext('2d');
          g.drawImage(img, 0, 0);
          const px = g.getImageData(0, 0, c.width, c.height).data;
          let ink = 0;
          for (let i = 0; i < px.length; i += 4) if (px[i] < 240 || px[i + 1] < 240 || px[i + 2] < 240) ink++;
          done(ink);
        }});""")
