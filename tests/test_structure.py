"""The shape of the code, read with ``ast``: the app is assembled in one place
(``deepling/web/app.py``) and nothing else looks a service or setting up by name in a Flask
config."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sources(*folders):
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def config_lookups(tree) -> list[str]:
    """``x.config["DEEPLING_…"]`` read, or ``x.config.get("DEEPLING_…")``: what is looked up."""
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Attribute) and node.value.attr == "config"
                and isinstance(node.slice, ast.Constant) and str(node.slice.value).startswith("DEEPLING_")):
            found.append(node.slice.value)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "setdefault", "pop")
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "config"
                and node.args and isinstance(node.args[0], ast.Constant)
                and str(node.args[0].value).startswith("DEEPLING_")):
            found.append(node.args[0].value)
    return found


def test_no_deepling_setting_is_looked_up_in_a_flask_config_outside_the_app():
    seen = {str(p.relative_to(ROOT)): config_lookups(ast.parse(p.read_text()))
            for p in _sources("deepling", "callbacks") if p.name != "app.py" or p.parent.name != "web"}
    assert {path: names for path, names in seen.items() if names} == {}


def test_the_lookup_check_finds_one():
    tree = ast.parse("g = current_app.config['DEEPLING_GUARD']\nh = app.server.config.get('DEEPLING_X')\n"
                     "server.config['DEEPLING_Y'] = 1\n")
    assert config_lookups(tree) == ["DEEPLING_GUARD", "DEEPLING_X"]
