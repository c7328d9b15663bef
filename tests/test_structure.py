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


MAX_REGISTER_LINES = 80


def register_lengths(tree) -> dict[str, int]:
    """Every ``register*`` function of a module and its length in lines (decorators out)."""
    return {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.name.startswith("register")}


def test_no_register_function_in_the_callbacks_is_over_80_lines():
    """A ``register`` wires one concern; a longer one is several, or computes (move that into
    a service function with a plain test)."""
    long = {f"{p.name}:{name}": n for p in _sources("callbacks")
            for name, n in register_lengths(ast.parse(p.read_text())).items() if n > MAX_REGISTER_LINES}
    assert long == {}


def test_the_length_check_measures_one():
    tree = ast.parse("def register(app, services):\n" + "    x = 1\n" * 90 + "def register_a(app):\n    pass\n")
    assert register_lengths(tree) == {"register": 91, "register_a": 2}


def kind_name_strings(tree, names) -> list[str]:
    """String constants that are a work kind's name."""
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in names]


def test_no_callback_names_a_work_kind_by_string():
    """Callbacks hand the kind itself (``services.submit(SKETCH, ...)``), never its name: a
    renamed kind cannot leave a page asking for work that no longer exists."""
    from deepling.service.kinds import all_kinds

    names = set(all_kinds())
    found = {p.name: kind_name_strings(ast.parse(p.read_text()), names) for p in _sources("callbacks")}
    assert {path: s for path, s in found.items() if s} == {}


def test_the_kind_name_check_finds_one():
    assert kind_name_strings(ast.parse("services.poll('robustness', key)\nx = 'robust'\n"),
                             {"robustness"}) == ["robustness"]


def renderer_parts():
    """The renderer's scripts in the order Dash serves assets/ (file names, sorted)."""
    return sorted((ROOT / "assets").glob("layer_scatter*.js"))


def test_each_renderer_part_uses_only_what_parts_loaded_before_it_give():
    """No build step: Dash loads assets/ in name order, so a part may take from
    ``Deepling.scatterParts`` only what an earlier part put there."""
    import re

    given, parts = set(), renderer_parts()
    assert [p.name for p in parts][-1] == "layer_scatter_6_scatter.js" and len(parts) == 6
    for part in parts:
        text = part.read_text()
        taken = {n.strip() for m in re.finditer(r"const \{([^}]*)\} = S;", text) for n in m.group(1).split(",")}
        taken |= set(re.findall(r"\bS\.([A-Za-z_]\w*)\b(?!\s*=[^=])", text))
        assert taken <= given, (part.name, sorted(taken - given))
        given |= {n.strip() for m in re.finditer(r"Object\.assign\(S, \{([^}]*)\}\)", text)
                  for n in m.group(1).split(",")}
        given |= set(re.findall(r"\bS\.([A-Za-z_]\w*)\s*=[^=]", text))
    assert "LayerScatter = LayerScatter" in parts[-1].read_text()
