"""Start Deepling: ``python run.py [--model PATH] [--data PATH|cifar10] [--port 8050]``."""

from deepling.web.cli import serve

if __name__ == "__main__":
    raise SystemExit(serve(prog="python run.py"))
