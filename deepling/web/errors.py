"""What a failed Dash callback tells the user: a clear banner, never a 500.

Callbacks read what the browser sends, and a forged request can send anything. Inputs are
checked in :mod:`deepling.service.schema`; whatever still goes wrong in a callback lands
here (Dash's ``on_error``): the outputs stay as they are and the banner says what happened.
"""

from __future__ import annotations

import logging

from dash import callback_context, no_update, set_props

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.cache import DISK_FULL_MESSAGE, is_disk_full
from deepling.service.jobs import QueueFull

log = logging.getLogger("deepling.web.errors")


def callback_error(exc: Exception):
    """Dash's ``on_error``: show the message in the banner, leave every output unchanged."""
    if is_disk_full(exc):
        message = DISK_FULL_MESSAGE
    elif isinstance(exc, (ValueError, TypeError, KeyError, ModelError, DataError, QueueFull)):
        # ValueError covers schema.InputError: a refused input (forged or just out of range)
        message = f"The server could not do that: {str(exc)[:300] or type(exc).__name__}."
        log.info("callback refused: %s", exc)
    else:
        log.exception("callback failed")
        message = "Something failed on the server (it is logged); try again or reload the page."
    set_props("app-banner", {"children": message, "is_open": True})
    outputs = callback_context.outputs_list
    return [no_update] * len(outputs) if isinstance(outputs, list) else None
