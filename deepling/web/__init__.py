"""The web layer: the Dash app, its HTTP API, the CLI, and one layout function per view.
Uses the service and the library; the callbacks that wire it live in the top-level callbacks/."""
