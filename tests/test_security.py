"""Safe on a shared intranet (#23): no script from anyone's data, no cross-site writes, every
job capped, quotas that a forged cookie cannot dodge, no 500 for a malformed request, and
optional sign-in. One shared app and one browser for everything that needs them."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path

import pytest

from tests.browser import REPO, make_driver, quit_driver, running_app, wait_for
from tests.hostile import HOSTILE_NAMES, hostile_folders_zip, hostile_names_npz
from tests.reliability import call, callback_specs, forge, multipart, png_claiming, small_npz

QUOTAS = {"DEEPLING_SESSION_QUOTA_MB": "1", "DEEPLING_ADDRESS_QUOTA_MB": "2"}

# Runs before any page script (a DevTools hook, outside the page's CSP): dialogs and CSP
# violations are recorded instead of shown.
HOOK = """
window.__xss = []; window.__csp = [];
['alert', 'confirm', 'prompt'].forEach((f) => { window[f] = (m) => { window.__xss.push(f + ':' + m); }; });
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '')));
"""

# Elements an escaping slip would have made out of HOSTILE_NAMES.
INJECTED = """
const hits = [];
document.querySelectorAll('*').forEach((el) => {
  for (const a of el.attributes) {
    if (a.name.startsWith('on')) hits.push(el.tagName + '[' + a.name + ']');
  }
});
document.querySelectorAll('img[src="x"], svg[onload], b[onmouseover]').forEach((el) => hits.push(el.outerHTML.slice(0, 80)));
document.querySelectorAll('script').forEach((s) => {
  if ((!s.type || s.type.includes('javascript')) && s.textContent.includes('__xss.push(5)')) hits.push('script');
});
document.querySelectorAll('i').forEach((el) => { if (el.textContent === 'long') hits.push('<i>'); });
return hits;
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("security-cache")


@pytest.fixture(scope="module")
def server(tmp_path_factory, cache):
    data = small_npz(tmp_path_factory.mktemp("data") / "random60.npz", n=60)
    with running_app("--data", str(data), env={**QUOTAS, "DEEPLING_CACHE": str(cache)}) as url:
        yield url


def _upload(base, name, data, headers=None, kind="datasets"):
    body, h = multipart(name, data)
    h.update(headers or {})
    status, resp_headers, answer = call(f"{base}/api/{kind}", body, headers=h, timeout=300)
    return status, answer, resp_headers


# --- hosts and origins ---------------------------------------------------------------------------
def test_only_allowed_hosts_are_answered(server):
    port = server.rsplit(":", 1)[1]
    for host in ("evil.example", f"attacker.test:{port}", "127.0.0.1.nip.io", "localhost.evil"):
        status, _, body = call(server + "/health", headers={"Host": host})
        assert status == 400 and "DEEPLING_ALLOWED_HOSTS" in body["error"], (host, status)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        assert call(server + "/health", headers={"Host": host})[0] == 200, host


def test_cross_site_writes_are_refused(server, tmp_path):
    data = small_npz(tmp_path / "x.npz", n=20).read_bytes()
    evil = [{"Origin": "http://evil.example"}, {"Origin": "null"},
            {"Referer": "http://evil.example/page.html"},
            {"Origin": server.replace("127.0.0.1", "127.0.0.2")},  # another origin, same port
            {"Sec-Fetch-Site": "cross-site"}]
    for headers in evil:
        status, answer, _ = _upload(server, "x.npz", data, headers)
        assert status == 403 and "another site" in answer["error"], (headers, status, answer)
        status, _, answer = call(server + "/api/projections", {"count": 5}, headers=headers)
        assert status == 403, headers
        status, _, _ = call(server + "/api/projections/" + "0" * 32, method="DELETE", headers=headers)
        assert status == 403, headers
        status, _, _ = call(server + "/_dash-update-component", {"output": "x"}, headers=headers)
        assert status == 403, headers
    # a form on another site posting text/plain JSON: refused by origin before its type
    status, _, _ = call(server + "/api/projections", b'{"count": 5}',
                        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403
    # the app's own pages and pipelines (no Origin) are served
    status, answer, _ = _upload(server, "x.npz", data, {"Origin": server})
    assert status == 201, answer
    status, _, answer = call(server + "/api/projections", {"count": 5}, headers={"Referer": server + "/?x=1"})
    assert status == 202, answer


def test_cross_site_reads_that_cost_work_are_refused(server):
    """Another site's <img>/<script>/fetch of an API answer would make this server load data
    for it: browsers mark such requests (Sec-Fetch-Site) and they are refused; the app's own
    pages, pipelines (no such header) and the health probe are served."""
    image = server + "/api/images/demo/default/0.png"
    for site in ("cross-site", "same-site"):
        for path in ("/api/images/demo/default/0.png", "/api/projections/" + "0" * 32,
                     "/api/payload/demo/default/" + "0" * 32 + ".bin"):
            status, _, answer = call(server + path, headers={"Sec-Fetch-Site": site})
            assert status == 403 and "another site" in answer["error"], (site, path, status)
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        assert call(image, headers=headers)[0] == 200, headers
    assert call(server + "/health", headers={"Sec-Fetch-Site": "cross-site"})[0] == 200


def test_security_headers_on_every_answer(server):
    for path in ("/", "/health", "/api/nothing", "/assets/deepling.css", "/_dash-layout"):
        status, h, _ = call(server + path)
        assert h.get("X-Content-Type-Options") == "nosniff", path
        assert h.get("X-Frame-Options") == "SAMEORIGIN", path
        assert h.get("Referrer-Policy") == "same-origin", path
        csp = h.get("Content-Security-Policy", "")
        assert "frame-ancestors 'self'" in csp and "object-src 'none'" in csp, path
        scripts = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'unsafe-inline'" not in scripts and "'sha256-" in scripts, path


# --- caps on every job kind ----------------------------------------------------------------------
GOOD = {
    "layer_sequence": {"model": "demo", "data": "default", "choice": {"mode": "classes", "count": 5}},
    "epoch_sequence": {"model": "demo", "data": "default", "choice": {"count": 5}, "layer": "conv1",
                       "snapshots": []},
    "predictions": {"model": "demo", "data": "default"},
    "neurons": {"model": "demo", "data": "default"},
    "robustness": {"model": "demo", "data": "default", "size": 100},
    "class_image": {"model": "demo", "data": "default", "target": 3, "start": "gray", "steps": 200,
                    "step_size": 0.05, "jitter": 2, "tv_weight": 0.5, "focus": None},
    "shape_workshop": {"classes": [{"name": "circle"}, {"name": "square"}], "model": "mlp",
                       "start": "black", "step_size": 0.1, "epochs": 15, "seed": 0},
    "training": {"run": "r1", "model": "demo", "data": "default",
                 "config": {"epochs": 5, "batch_size": 64, "learning_rate": 1e-3, "optimizer": "adam"}},
    "retrain": {"side": "s1", "model": "demo", "data": "default", "indices": [1, 2, 3],
                "iterations": 30, "batch_size": 64, "learning_rate": 5e-4},
}
GOOD.update({
    "attribution_ranking": {"model": "demo", "data": "default", "size": 100, "layer": None},
    "sanity_check": {"model": "demo", "data": "default", "index": 3, "methods": ["gradcam"],
                     "layer": "conv2b"},
    "cka": {"model_a": "demo", "model_b": "demo", "data": "default"},
    "cka_epochs": {"model": "demo", "data": "default", "layer": "fc2", "snapshots": []},
    "label_errors": {"model": "demo", "data": "default"},
})
BAD = [  # (kind, path into the params, value)
    ("layer_sequence", ("choice", "count"), 10**9), ("layer_sequence", ("model",), "../etc"),
    ("epoch_sequence", ("layer",), "x" * 10_000), ("epoch_sequence", ("snapshots",), "all"),
    ("predictions", ("data",), {"$ne": 1}), ("neurons", ("model",), None),
    ("robustness", ("size",), 10**6),
    ("class_image", ("steps",), 10**9), ("class_image", ("step_size",), math.nan),
    ("class_image", ("jitter",), 1e300), ("class_image", ("target",), {"layer": "c", "channel": -1}),
    ("shape_workshop", ("epochs",), 10**9), ("shape_workshop", ("step_size",), math.inf),
    ("shape_workshop", ("classes",), [{"name": "a"}] * 1000),
    ("training", ("config", "epochs"), 10**9), ("training", ("config", "batch_size"), 10**9),
    ("training", ("config", "learning_rate"), math.nan), ("training", ("config", "learning_rate"), "inf"),
    ("training", ("config", "subset"), -1), ("training", ("config", "optimizer"), "__import__"),
    ("retrain", ("iterations",), 10**9), ("retrain", ("indices",), list(range(70_000))),
    ("retrain", ("learning_rate",), -1), ("retrain", ("extra",), 1),
    ("attribution_ranking", ("size",), 10**9), ("sanity_check", ("methods",), ["m"] * 1000),
    ("sanity_check", ("index",), -5), ("cka", ("model_b",), "../../x"),
    ("label_errors", ("data",), "x" * 100),
    ("cka_epochs", ("snapshots",), [["a", "b"]] * 1000), ("cka_epochs", ("layer",), "x" * 10_000),
]


def _task_names():
    from deepling.service.kinds import all_kinds

    return set(all_kinds())


@pytest.mark.parametrize("kind,path,value", BAD, ids=[f"{k}-{'.'.join(p)}" for k, p, _ in BAD])
def test_every_job_kind_is_capped_at_submit(kind, path, value, tmp_path):
    """The real job runner refuses the job before it queues (whatever called submit)."""
    import copy

    from deepling.service.jobs import ThreadJobs
    from deepling.service.kinds import all_kinds
    from deepling.service.schema import InputError, task_params

    assert task_params(kind, GOOD[kind])  # the defaults pass
    assert set(GOOD) == _task_names()  # every kind the runner knows has caps here
    params = copy.deepcopy(GOOD[kind])
    target = params
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    runner = ThreadJobs(tmp_path, None, all_kinds(), max_workers=1)
    try:
        with pytest.raises(InputError):
            runner.submit(kind, params, key="k" * 32)
        assert runner.queue_length() == 0 and runner.status("k" * 32)["state"] != "queued"
    finally:
        for pool in runner.pools.values():
            pool.shutdown()


def test_forged_callbacks_meet_the_caps(server):
    specs = callback_specs(server)
    rendered = {"model": "demo", "data": "default"}
    status, answer, took = forge(server, specs, "ci-request.data", {
        "ci-run.n_clicks": 1, "ci-kind.value": "class", "ci-class.value": "3",
        "ci-start.value": "gray", "ci-steps.value": 10**9, "rendered.data": rendered})
    assert status == 200 and took < 10
    assert "steps must be between 1 and 1,000" in json.dumps(answer)
    status, answer, _ = forge(server, specs, "train-run.data", {
        "train-start.n_clicks": 1, "train-source.value": "demo", "train-epochs.value": 10**9,
        "train-lr.value": "NaN", "train-sid.data": "forger", "rendered.data": rendered})
    assert status == 200 and "epochs must be between" in json.dumps(answer)
    status, answer, _ = forge(server, specs, "shape-request.data", {
        "shape-run.n_clicks": 1, "shape-classes.value": ["circle", "square"],
        "shape-epochs.value": 10**9})
    assert status == 200 and "epochs must be between" in json.dumps(answer)


def test_readme_and_code_agree_on_count(server):
    from deepling.service import schema

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"`count` (1–{schema.MAX_IMAGES:,})" in readme
    status, _, answer = call(server + "/api/projections", {"count": schema.MAX_IMAGES + 1})
    assert status == 400 and f"{schema.MAX_IMAGES:,}" in answer["error"]


def test_a_forged_big_picture_is_refused_from_its_header(server):
    import base64

    from tests.reliability import rss_mb, server_pid

    specs = callback_specs(server)
    pid = server_pid(server)
    before = rss_mb(pid)
    png = base64.b64encode(png_claiming(6300, 6300)).decode()
    for _ in range(4):
        status, answer, took = forge(server, specs, "focus-image.children", {
            "picture.data": {"png": png, "name": "<img src=x onerror=alert(1)>"},
            "rendered.data": {"model": "demo", "data": "default"}})
        assert status == 200 and "too large" in json.dumps(answer) and took < 5
    assert rss_mb(pid) - before < 100


# --- quotas against forged cookies ---------------------------------------------------------------
def test_forged_cookies_do_not_dodge_the_quotas(server, tmp_path):
    one = small_npz(tmp_path / "one.npz", n=200).read_bytes()  # ~0.6 MB stored
    # a session the server issued, sent back: its quota holds (1 MB)
    status, h, _ = call(server + "/")
    cookie = h["Set-Cookie"].split(";", 1)[0]
    assert cookie.startswith("deepling_session=")
    assert _upload(server, "a.npz", one, {"Cookie": cookie})[0] == 201
    status, answer, _ = _upload(server, "b.npz", one, {"Cookie": cookie})
    assert status == 507 and "DEEPLING_SESSION_QUOTA_MB" in answer["error"]
    # made-up and tampered cookies are no session: each is a new one, and the address's
    # quota (2 MB) holds whatever the cookie
    forged = ["deepling_session=alice", "deepling_sid=bob", cookie[:-3] + "abc",
              "deepling_session=" + "eyJzaWQiOiJ4In0.forged.sig", ""]
    statuses = []
    for c in forged:
        status, answer, _ = _upload(server, "c.npz", one, {"Cookie": c} if c else {})
        statuses.append(status)
        if status == 507:
            assert "DEEPLING_ADDRESS_QUOTA_MB" in answer["error"], answer
    assert statuses.count(201) <= 3 and statuses[-1] == 507, statuses


# --- leftover 500s -------------------------------------------------------------------------------
def test_malformed_requests_are_4xx_not_500(server):
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_obj = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
    cases = [
        ("/_dash-update-component", deep_list), ("/_dash-update-component", deep_obj),
        ("/api/projections", deep_obj[:60_000]),
        ("/_dash-update-component", b"{}"), ("/_dash-update-component", b"[]"),
        ("/_dash-update-component", b"null"), ("/_dash-update-component", b'"x"'),
        ("/_dash-update-component", b'{"output": "nope.children", "outputs": {}, "inputs": []}'),
        ("/_dash-update-component", b'{"output": {"id": 1}}'),
        ("/_dash-update-component", b'{"output": "..ci-request.data...ci-poll.disabled...ci-status.children..", '
                                    b'"outputs": 7, "inputs": []}'),
        ("/_dash-update-component", b'{"output": "..ci-request.data...ci-poll.disabled...ci-status.children..", '
                                    b'"outputs": [], "inputs": [1, 2]}'),
        ("/_dash-update-component", b"\xff\xfe not json"),
    ]
    for path, body in cases:
        status, _, answer = call(server + path, body, headers={"Content-Type": "application/json"})
        assert 400 <= status < 500, (path, body[:60], status, answer)
    for path in ("/_dash-component-suites/nope/x.js", "/_dash-component-suites/dash/nope.js",
                 "/_dash-component-suites/dash/dcc/x.v1_2_3m4.js",
                 "/_dash-component-suites/dash/deps/react@18.v1.js",
                 "/_dash-component-suites/dash/%2e%2e/%2e%2e/setup.py",
                 "/_dash-component-suites/" + "a" * 5000 + "/b.js"):
        status, _, _ = call(server + path)
        assert 400 <= status < 500, (path, status)
    assert call(server + "/_dash-update-component")[0] < 500
    assert call(server + "/health")[0] == 200


# --- sign-in -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_model):
    """The real app in this process (Flask's test client) on a small dataset."""
    from deepling.service.config import Config
    from deepling.web.app import create_app

    folder = tmp_path_factory.mktemp("signin")
    data = small_npz(folder / "d.npz", n=20)
    return create_app(Config(data=str(data), cache=folder / "cache"))


def _signin(app, **settings):
    from deepling.web.security import SecuritySettings

    app.guard.settings = SecuritySettings(**settings)
    return app.server.test_client()


def test_sign_in_off_loopback_is_open_and_the_key_is_private(app):
    client = _signin(app)
    assert client.get("/").status_code == 200
    assert client.get("/login").status_code == 302  # nothing to sign in to
    key = Path(app.services.workspace.config.cache) / "secret_key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) >= 32


def test_sign_in_with_a_shared_token(app):
    client = _signin(app, auth_token="s3cret-token")
    r = client.get("/?data=default", headers={"Accept": "text/html"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/")
    assert client.get("/health").status_code == 200  # the probe stays open
    assert client.post("/api/projections", json={"count": 5}).status_code == 401
    assert client.get("/_dash-layout").status_code == 401
    assert client.post("/api/projections", json={"count": 5},
                       headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/projections", json={"count": 5},
                       headers={"Authorization": "Bearer s3cret-token"}).status_code == 202
    assert client.post("/login", data={"password": "nope"}).status_code == 401
    r = client.post("/login", data={"password": "s3cret-token", "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"] == "/"  # no open redirect
    assert client.get("/").status_code == 200  # signed in (the session cookie)
    # a cross-site login form is refused like any other write
    other = _signin(app, auth_token="s3cret-token")
    assert other.post("/login", data={"password": "s3cret-token"},
                      headers={"Origin": "http://evil.example"}).status_code == 403


def test_the_runs_token_opens_nothing_but_pushing_runs(app):
    client = _signin(app, auth_token="user-tok", runs_token="pipe-tok")
    for path in ("/api/projections", "/api/datasets", "/api/models"):
        r = client.post(path, json={"count": 5}, headers={"Authorization": "Bearer pipe-tok"})
        assert r.status_code == 401, path
    assert client.get("/_dash-layout", headers={"Authorization": "Bearer pipe-tok"}).status_code == 401


def test_sign_in_with_a_password_file_and_brute_force_is_slowed(app, tmp_path):
    from werkzeug.security import generate_password_hash

    pw = tmp_path / "users"
    pw.write_text(f"# users\nalice:{generate_password_hash('wonderland')}\n")
    client = _signin(app, auth_password_file=str(pw))
    assert client.get("/api/images/demo/default/0.png").status_code == 401
    ok = client.get("/api/images/demo/default/0.png", auth=("alice", "wonderland"))
    assert ok.status_code == 200
    assert client.get("/api/images/demo/default/0.png", auth=("alice", "x")).status_code == 401
    statuses = [client.post("/login", data={"user": "alice", "password": f"guess{i}"},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code for i in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429
    r = client.post("/login", data={"user": "alice", "password": "wonderland"})
    assert r.status_code == 302


def test_sign_in_through_an_authenticating_proxy_owns_uploads(app, tmp_path):
    client = _signin(app, auth_proxy_header="X-Remote-User")
    assert client.get("/health").status_code == 200
    assert client.get("/_dash-layout").status_code == 401
    # the header counts only from the proxy's address
    assert client.get("/_dash-layout", headers={"X-Remote-User": "mallory"},
                      environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 401
    data = small_npz(tmp_path / "p.npz", n=20)
    with open(data, "rb") as f:
        r = client.post("/api/datasets", data={"file": (f, "p.npz")},
                        headers={"X-Remote-User": "carol"})
    assert r.status_code == 201, r.get_json()
    meta = json.loads((Path(app.services.workspace.uploads.root) / "data"
                       / r.get_json()["id"] / "meta.json").read_text())
    assert meta["owner"].startswith("user:")


def test_binding_beyond_loopback_without_sign_in_warns(tmp_path, caplog):
    import dash

    from deepling.service.config import Config
    from deepling.web import security

    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        caplog.clear()
        app = dash.Dash("probe")
        security.install(app, Config(host=host, cache=tmp_path), security.SecuritySettings())
        assert ("without sign-in" in caplog.text) == warned, host
    caplog.clear()
    security.install(dash.Dash("probe"), Config(host="0.0.0.0", cache=tmp_path),
                     security.SecuritySettings(auth_token="t"))
    assert "without sign-in" not in caplog.text


# --- the hostile-names corpus in a real browser --------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    d = make_driver()
    d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": HOOK})
    yield d
    quit_driver(d)


def _clean(driver, where):
    assert driver.execute_script("return window.__xss") == [], where
    assert driver.execute_script(INJECTED) == [], where
    assert driver.execute_script("return window.__csp") == [], where


@pytest.mark.browser
def test_hostile_names_stay_text_in_every_view(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    status, answer, _ = _upload(server, "names.npz", hostile_names_npz(tmp_path / "names.npz").read_bytes())
    assert status == 201, answer
    # every name kept as sent, but the 10 kB one cut for display
    assert answer["summary"]["classes"][:9] == list(HOSTILE_NAMES[:9])
    assert answer["summary"]["classes"][9] == HOSTILE_NAMES[9][:119] + "…"
    zipped = hostile_folders_zip(tmp_path / "folders.zip").read_bytes()
    status, zanswer, _ = _upload(server, "<svg onload=alert(9)>.zip", zipped)
    assert status == 201, zanswer
    assert HOSTILE_NAMES[0] in zanswer["summary"]["classes"]

    d = browser
    d.get(f"{server}/?data={answer['id']}&mode=classes&count=3&points=dots")
    wait_for(d, "const v = window.Deepling && window.Deepling.animationView; return v && v.data && v.data.n === 30;",
             timeout=180, message="30 points drawn")
    legend = d.execute_script("return document.getElementById('scatter-legend').textContent")
    assert HOSTILE_NAMES[0] in legend and HOSTILE_NAMES[8] in legend  # shown, as text
    # hover a point: the tooltip names its class
    xy = d.execute_script("return window.Deepling.animationView.scatter.screenPosition(0)")
    host = d.find_element("id", "scatter-host")
    rect = d.execute_script("return arguments[0].getBoundingClientRect().toJSON()", host)
    ActionChains(d).move_to_element_with_offset(
        host, int(xy[0] - rect["left"] - rect["width"] / 2),
        int(xy[1] - rect["top"] - rect["height"] / 2)).perform()
    wait_for(d, "const t = document.getElementById('scatter-tooltip'); return !t.hidden && t.textContent.includes('true');",
             timeout=10, message="tooltip")
    _clean(d, "overview")
    for tab in ("Neurons", "Compare models", "Overview", "Shape workshop", "Model"):
        d.find_element("link text", tab).click()
        time.sleep(1.5)
        _clean(d, tab)
    # the open dialog lists the uploads by their names
    d.find_element("id", "open-button").click()
    time.sleep(1)
    _clean(d, "open dialog")
    # an error banner quoting a hostile name
    d.get(f"{server}/?data={zanswer['id']}&layer=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
    wait_for(d, "const v = window.Deepling && window.Deepling.animationView; return v && v.data;",
             timeout=180, message="the zip's animation")
    time.sleep(1)
    _clean(d, "zip upload")


@pytest.mark.browser
def test_hostile_names_stay_text_in_the_report(browser, tmp_path, demo_model):
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace
    from deepling.web.report import write_report

    data = hostile_names_npz(tmp_path / "names.npz", per_class=2)
    out = tmp_path / "report.html"
    write_report(out, Workspace(Config(data=str(data), cache=tmp_path / "cache")),
                 choice={"count": 2}, robustness_size=20)
    text = out.read_text(encoding="utf-8")
    assert '<meta http-equiv="Content-Security-Policy"' in text
    d = browser
    d.get(out.as_uri())
    wait_for(d, "return window.deeplingReport && window.deeplingReport.scatters.length === 1",
             timeout=60, message="the report's animation")
    body = d.execute_script("return document.body.textContent")
    assert HOSTILE_NAMES[1] in body and HOSTILE_NAMES[-1][-20:] in body
    # hover every panel's first point through the renderer: the tooltip is built as text
    d.execute_script("window.deeplingReport._tooltip(0, 0, 10, 10)")
    tip = d.execute_script("return document.getElementById('tooltip').textContent")
    assert "true" in tip
    _clean(d, "report")
