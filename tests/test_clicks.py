"""`clicked` tells a real click on a pattern-matched component from Dash re-creating them."""

import json

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

from deepling.web.clicks import clicked


def _fire(component_id, n_clicks):
    prop = json.dumps(component_id, sort_keys=True, separators=(",", ":")) + ".n_clicks"
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop, "value": n_clicks}]))


@pytest.mark.parametrize("n_clicks, expected", [(1, 7), (3, 7), (None, None), (0, None)])
def test_only_the_triggering_components_own_clicks_count(n_clicks, expected):
    _fire({"type": "data-tile", "index": 7}, n_clicks)
    assert clicked() == expected


def test_other_pattern_keys_and_no_trigger():
    _fire({"type": "arch-map", "channel": 12}, 2)
    assert clicked("channel") == 12
    context_value.set(AttributeDict(triggered_inputs=[]))
    assert clicked() is None
