"""Deepling for your own ``model.fit``: :class:`Monitor` writes a run folder Deepling opens.

.. code-block:: python

    from deepling.keras import Monitor
    model.fit(x, y, validation_data=(xv, yv), epochs=10,
              callbacks=[Monitor("runs/exp1", probe=(xv[:32], yv[:32]))])
    # elsewhere:  deepling serve --runs runs/
"""

from deepling.keras.monitor import DEFAULT_EVERY, Monitor

__all__ = ["DEFAULT_EVERY", "Monitor"]
