"""Which pattern-matched component the user really clicked."""

from dash import ctx


def clicked(key="index"):
    """The ``key`` field of the clicked component's pattern id, or None when nothing was clicked.

    Dash also runs an ``ALL`` pattern callback when matching components are (re)created, with
    their ``n_clicks`` at None, and a stale click elsewhere in the list says nothing about what
    fired. Only the triggering component's own ``n_clicks`` tells a real click.
    """
    triggered = ctx.triggered
    if not triggered or not triggered[0].get("value") or not isinstance(ctx.triggered_id, dict):
        return None
    return ctx.triggered_id.get(key)
