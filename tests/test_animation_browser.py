"""The layer animation in the real app, in headless Chromium (WebGL via SwiftShader)."""

import pytest

from tests.browser import console_errors, wait_for

pytestmark = pytest.mark.browser


def open_view(driver, app_url, query, points):
    driver.get(app_url + "/" + query)
    wait_for(driver, f"""const v = window.Deepling && window.Deepling.animationView;
                        return v && v.data && v.data.n === {points};""",
             timeout=180, message=f"{points} points drawn")


def canvas_signature(driver):
    """Non-white pixel count and a checksum of the current frame."""
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const img = new Image();
        img.onload = () => {
          const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0);
          const px = g.getImageData(0, 0, c.width, c.height).data;
          let ink = 0, sum = 0;
          for (let i = 0; i < px.length; i += 4) {
            if (px[i] < 245 || px[i + 1] < 245 || px[i + 2] < 245) ink++;
            sum = (sum + px[i] * 3 + px[i + 1] * 7 + px[i + 2] * 11 + i) % 1000000007;
          }
          done([ink, sum]);
        };
        img.src = window.Deepling.animationView.scatter.toPNG({background: '#ffffff'});
    """)


def test_canvas_draws_and_slider_moves_the_picture(app_url, driver):
    open_view(driver, app_url, "?mode=classes&classes=3,5&count=50", 100)
    ink, first = canvas_signature(driver)
    assert ink > 200, "the canvas is blank"
    last = driver.execute_script("return window.Deepling.animationView.data.nLayers - 1")
    driver.execute_script(f"""const s = document.getElementById('anim-slider');
        s.value = '{last}'; s.dispatchEvent(new Event('input', {{bubbles: true}}));""")
    wait_for(driver, f"return Math.abs(window.Deepling.animationView.scatter.getLayer() - {last}) < 1e-6")
    ink2, second = canvas_signature(driver)
    assert ink2 > 200 and second != first
    info = driver.execute_script("return document.getElementById('anim-layer-info').innerText")
    assert "predictions" in info
    assert "layer=predictions" in driver.current_url  # the link reproduces the view
    assert console_errors(driver) == []


def test_play_loop_advances_and_pauses(app_url, driver):
    open_view(driver, app_url, "?mode=classes&classes=0,1&count=30", 60)
    driver.execute_script("document.getElementById('anim-play').click()")
    wait_for(driver, "return window.Deepling.animationView.scatter.getLayer() > 0.5",
             timeout=20, message="the play loop to advance")
    # the pause icon is drawn in CSS, not a glyph (#24: ⏸ rendered as a box without the font)
    assert driver.execute_script("""const b = document.getElementById('anim-play');
        return [b.textContent, b.getAttribute('aria-label'), b.classList.contains('dl-playing'),
                getComputedStyle(b.querySelector('.dl-play-icon')).borderLeftWidth]""") == \
        ["", "pause", True, "3px"]
    driver.execute_script("document.getElementById('anim-play').click()")
    assert not driver.execute_script("return window.Deepling.animationView.scatter.isPlaying()")


def test_hover_shows_label_and_click_focuses(app_url, driver):
    from selenium.webdriver.common.action_chains import ActionChains

    # dots: a thumbnail on top of point 0 would rightly take the click (square picking is
    # tested with the renderer, tests/test_layer_scatter_js.py)
    open_view(driver, app_url, "?mode=classes&classes=8&count=5&points=dots", 5)
    # find point 0's position on screen through the renderer's own projection
    xy = driver.execute_script("""
        const v = window.Deepling.animationView, s = v.scatter;
        const p = s.screenPosition ? s.screenPosition(0) : null;
        return p;""")
    assert xy, "renderer exposes screenPosition(i)"
    host = driver.find_element("id", "scatter-host")
    rect = driver.execute_script("return arguments[0].getBoundingClientRect().toJSON()", host)
    ActionChains(driver).move_to_element_with_offset(
        host, int(xy[0] - rect["left"] - rect["width"] / 2),
        int(xy[1] - rect["top"] - rect["height"] / 2)).perform()
    tip = wait_for(driver, """const t = document.getElementById('scatter-tooltip');
                              return !t.hidden && t.innerText;""", timeout=10, message="tooltip")
    assert "true ship" in tip
    ActionChains(driver).click().perform()
    index = driver.execute_script("return window.Deepling.animationView.data.indices[0]")
    wait_for(driver, f"return document.getElementById('focus-image').innerText.includes('#{index}')",
             timeout=20, message="the strip view to follow the click")


def test_choosing_classes_changes_point_count(app_url, driver):
    open_view(driver, app_url, "?mode=classes&classes=3,5&count=20", 40)
    from selenium.webdriver.common.keys import Keys

    count = driver.find_element("id", "anim-count")
    count.send_keys(Keys.CONTROL, "a")
    count.send_keys("7", Keys.ENTER)
    driver.find_element("id", "anim-project").click()
    wait_for(driver, "return window.Deepling.animationView.data.n === 14", timeout=120,
             message="14 points after choosing 7 per class")
    legend = driver.execute_script("return document.getElementById('scatter-legend').innerText")
    assert "cat" in legend and "dog" in legend


def test_few_images_show_as_thumbnails_and_one_click_switches(app_url, driver):
    import urllib.request

    from PIL import Image
    import io

    open_view(driver, app_url, "?mode=classes&classes=3,5&count=5", 10)
    wait_for(driver, "return window.Deepling.animationView.scatter.stats().thumbnails",
             timeout=30, message="the thumbnail atlas to arrive")
    key, data_key, atlas = driver.execute_script(
        "const d = window.Deepling.animationView.data; return [d.key, d.dataKey, d.atlas];")
    with urllib.request.urlopen(f"{app_url}/api/atlas/{data_key}/{key}.jpg") as r:
        assert r.headers["Content-Type"] == "image/jpeg"
        img = Image.open(io.BytesIO(r.read()))
    assert img.size == (atlas["columns"] * atlas["tile"], atlas["rows"] * atlas["tile"])
    ink, _ = canvas_signature(driver)
    assert ink > 5 * 40 * 40, "ten thumbnails cover more than ten dots"
    driver.find_element("id", "anim-style").click()
    assert driver.execute_script("return window.Deepling.animationView.scatter.getStyle()") == "dots"
    assert "points=dots" in driver.current_url                         # the link keeps the choice
    driver.find_element("id", "anim-style").click()
    assert driver.execute_script("return window.Deepling.animationView.scatter.stats().thumbnails")
    assert console_errors(driver) == []


def test_points_arrive_as_one_binary_body_from_the_shared_cache(app_url, driver):
    """The arrays come apart from the JSON, from a content-keyed GET that every session shares."""
    import urllib.request

    open_view(driver, app_url, "?mode=classes&classes=3,5&count=50", 100)   # projected above
    url, layout, n_layers = driver.execute_script(
        "const d = window.Deepling.animationView.data;"
        "return [d.binary.url, d.binary.arrays, d.nLayers];")
    bodies = []
    for _ in range(2):                                     # two readers (sessions), one cached body
        with urllib.request.urlopen(app_url + url) as r:
            assert r.headers["Content-Type"] == "application/octet-stream"
            assert "immutable" in r.headers["Cache-Control"]
            bodies.append(r.read())
    assert bodies[0] == bodies[1]
    offset, count = layout["confidence"]
    assert len(bodies[0]) >= offset + count and layout["positions"] == [0, n_layers * 100 * 2]
    assert driver.execute_script(
        "return window.Deepling.animationView.data.positions.buffer.byteLength") == len(bodies[0])
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(app_url + url.replace(url.rsplit("/", 1)[1], "0" * 32 + ".bin"))
    assert err.value.code == 404
    assert console_errors(driver) == []
