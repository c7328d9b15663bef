"""Command line: ``deepling serve`` (also ``python run.py``), ``train-demo``, ``evaluate-demo``."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.replace(":", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("use LO,HI, e.g. 0,1 or 0,255 or -1,1") from None
    return lo, hi


def serve_parser(prog: str = "deepling serve") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Start the Deepling app in your browser.")
    p.add_argument("--model", help="a .keras or .h5 model file (default: the demo CNN)")
    p.add_argument("--data", help="'cifar10' (default), an image folder, a .zip of one, or an .npz")
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 8050)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reload, dev tools)")
    p.add_argument("--input-range", type=_range, metavar="LO,HI",
                   help="pixel range the model expects, if the detected one is wrong")
    return p


def serve(argv=None, prog: str = "deepling serve") -> int:
    a = serve_parser(prog).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if a.data and a.data.lower() not in ("cifar10", "cifar-10") and not os.path.exists(a.data):
        return _fail(f"--data {a.data}: no such file or folder. Give an image folder, a .zip, "
                     "an .npz, or 'cifar10'.")
    from deepling.service.config import Config
    from deepling.data import DataError
    from deepling.models import ModelError

    config = Config.from_env(model=a.model, data=a.data, host=a.host, port=a.port,
                             debug=a.debug or None, input_range=a.input_range)
    print(f"Deepling: loading {config.model or 'the demo model'} and {config.data} …", flush=True)
    try:
        from deepling.web.app import create_app

        app = create_app(config)
    except (DataError, ModelError) as exc:
        return _fail(str(exc))
    print(f"Deepling is ready: http://{config.host}:{config.port}/", flush=True)
    if config.debug:
        app.run(host=config.host, port=config.port, debug=True)
    else:
        # A production WSGI server: many users on one machine, each request on a thread.
        from waitress import serve as waitress_serve

        limits = app.server.config["DEEPLING_WORKSPACE"].uploads.limits
        waitress_serve(app.server, host=config.host, port=config.port,
                       threads=int(os.environ.get("DEEPLING_THREADS", 16)), ident="Deepling",
                       # waitress buffers a body before the app sees it: bound that too
                       max_request_body_size=limits.max_upload_bytes + (1 << 20))
    return 0


def _fail(message: str) -> int:
    print("\n".join(textwrap.wrap("deepling: " + message, 100)), file=sys.stderr)
    return 2


def evaluate_demo(argv=None) -> int:
    """Measure the demo model's test accuracy on all 10,000 CIFAR-10 test images."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from deepling.data import DataError, load_cifar10
    from deepling.models import load_demo_model
    from deepling.models.demo import evaluate_accuracy
    from deepling.service.config import Config

    try:
        test = load_cifar10("test", cache_dir=Config.from_env().cache_path("datasets"))
    except DataError as exc:
        return _fail(str(exc))
    acc = evaluate_accuracy(load_demo_model().model, test)
    print(f"demo CNN test accuracy: {acc:.2%} on {len(test):,} CIFAR-10 test images")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"serve": serve, "train-demo": None, "evaluate-demo": evaluate_demo}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: deepling {serve,train-demo,evaluate-demo} [options]\n\n"
              "  serve          start the app (see deepling serve --help)\n"
              "  train-demo     train the demo CNN on CIFAR-10 and save it\n"
              "  evaluate-demo  measure the demo CNN's test accuracy")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "train-demo":
        from deepling.models.demo import main as train_main

        return train_main(argv[1:])
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
