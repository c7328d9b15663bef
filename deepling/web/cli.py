"""Command line: ``deepling serve`` (also ``python run.py``), ``report``, ``precompute``,
``train-demo``, ``evaluate-demo``."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time


# deepling.models.adapter.PREPROCESS_CHOICES, without importing Keras for --help
PREPROCESS_CHOICES = ("auto", "caffe", "tf", "torch", "raw", "unit")


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.replace(":", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("use LO,HI, e.g. 0,1 or 0,255 or -1,1") from None
    return lo, hi


def _model_and_data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--model", help="a .keras or .h5 model file, or keras:<Name> for a "
                                   "keras.applications network with ImageNet weights, e.g. "
                                   "keras:ResNet50 (default: the demo CNN)")
    p.add_argument("--preprocess", choices=PREPROCESS_CHOICES,
                   help="how the model expects its pixels: auto (detect, default), caffe "
                        "(VGG/ResNet: BGR minus the ImageNet mean), tf (-1..1), torch "
                        "(DenseNet: ImageNet mean/std), raw (0..255), unit (0..1)")
    p.add_argument("--data", help="'cifar10' (default), an image folder, a .zip of one, or an .npz")
    return p


def serve_parser(prog: str = "deepling serve") -> argparse.ArgumentParser:
    p = _model_and_data(argparse.ArgumentParser(prog=prog, description="Start the Deepling app in your browser."))
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, help="port (default 8050)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reload, dev tools)")
    p.add_argument("--input-range", type=_range, metavar="LO,HI",
                   help="pixel range the model expects, if the detected one is wrong")
    p.add_argument("--runs", metavar="DIR",
                   help="a folder of training runs to watch (deepling.keras.Monitor run "
                        "folders, ModelCheckpoint folders), like TensorBoard's --logdir")
    return p


def _say_data_notes(workspace) -> None:
    """What the data panel will say about the data, said at the start too: a flat folder's
    images have no labels, a model's outputs do not match the data's classes."""
    try:
        ds = workspace.dataset()
    except Exception:  # noqa: BLE001 - the page reports a data problem in full
        return
    notes = list(ds.notes)
    if not ds.labelled and not any("unlabelled" in n for n in notes):
        notes.insert(0, "the images have no labels: the views colour them by the model's prediction")
    for note in notes:
        print("\n".join(textwrap.wrap(f"Deepling: note: {note}", 100, subsequent_indent="  ")), flush=True)


def serve(argv=None, prog: str = "deepling serve") -> int:
    a = serve_parser(prog).parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _missing_data(a.data):
        return _fail(_missing_data(a.data))
    if a.runs:
        try:  # runs may start after the server: an empty folder is fine, as for TensorBoard
            os.makedirs(a.runs, exist_ok=True)
        except OSError as exc:
            return _fail(f"--runs {a.runs}: cannot use this folder ({exc.strerror}). Give the "
                         "folder your runs are written to (Monitor('runs/exp1') → --runs runs).")
    from deepling.service.config import Config
    from deepling.data import DataError
    from deepling.models import ModelError

    config = Config.from_env(model=a.model, data=a.data, host=a.host, port=a.port,
                             debug=a.debug or None, input_range=a.input_range, runs=a.runs,
                             preprocess=a.preprocess)
    print(f"Deepling: loading {config.model or 'the demo model'} and {config.data} …", flush=True)
    try:
        from deepling.service.workspace import Workspace
        from deepling.web.app import create_app

        workspace = Workspace(config)
        app = create_app(config, workspace)
    except (DataError, ModelError) as exc:
        return _fail(str(exc))
    _say_data_notes(workspace)
    print(f"Deepling is ready: http://{config.host}:{config.port}/", flush=True)
    if config.debug:
        app.run(host=config.host, port=config.port, debug=True)
    else:
        # A production WSGI server: many users on one machine, each request on a thread.
        from waitress import serve as waitress_serve

        limits = workspace.uploads.limits
        waitress_serve(app.server, host=config.host, port=config.port,
                       threads=int(os.environ.get("DEEPLING_THREADS", 32)), ident="Deepling",
                       # waitress buffers a body before the app sees it: bound that too
                       max_request_body_size=limits.max_upload_bytes + (1 << 20))
    return 0


def _missing_data(data) -> str | None:
    if data and data.lower() not in ("cifar10", "cifar-10") and not os.path.exists(data):
        return (f"--data {data}: no such file or folder. Give an image folder, a .zip, "
                "an .npz, or 'cifar10'.")
    return None


def _progress_line():
    """``progress(fraction, message)`` printing one line per new message (and per 10 %)."""
    last = {"message": None, "tenth": -1}

    def progress(fraction, message):
        tenth = int(fraction * 10)
        if message != last["message"] or tenth != last["tenth"]:
            print(f"[{fraction:4.0%}] {message}", flush=True)
            last.update(message=message, tenth=tenth)
    return progress


def _offline_tool(argv, prog: str, description: str, work, extra_args=None) -> int:
    """Parse ``--model/--data/--input-range`` (+ ``extra_args``), open the workspace
    ``deepling serve`` would, and run ``work(args, workspace, progress)`` here, inline,
    printing progress; returns the exit code (2 with the message for bad model or data)."""
    p = _model_and_data(argparse.ArgumentParser(prog=prog, description=description))
    p.add_argument("--input-range", type=_range, metavar="LO,HI",
                   help="pixel range the model expects, if the detected one is wrong")
    for flag, options in (extra_args or {}).items():
        p.add_argument(flag, **options)
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if _missing_data(a.data):
        return _fail(_missing_data(a.data))
    from deepling.data import DataError
    from deepling.models import ModelError
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace

    config = Config.from_env(model=a.model, data=a.data, input_range=a.input_range,
                             preprocess=a.preprocess)
    print(f"Deepling: loading {config.model or 'the demo model'} and {config.data} …", flush=True)
    started = time.monotonic()
    try:
        summary = work(a, Workspace(config), _progress_line())
    except (DataError, ModelError, ValueError) as exc:
        return _fail(str(exc))
    print(f"{summary} ({time.monotonic() - started:.0f} s)", flush=True)
    return 0


def report(argv=None) -> int:
    """``deepling report``: one self-contained HTML file of what a presenter shows."""
    def work(a, workspace, progress):
        from deepling.web.report import write_report

        compare = None
        if a.compare:  # a second model: the report gets the CKA of their layers
            from deepling.models import load_model_file

            compare, _ = workspace.register(load_model_file(a.compare))
        size = write_report(a.out, workspace, compare=compare, progress=progress)
        return f"Wrote {a.out}: {size / 1e6:.2f} MB; it opens in any browser, offline (file://)"

    return _offline_tool(argv, "deepling report",
                         "Write an offline HTML report (opens from file://, no server).", work,
                         {"--out": dict(default="report.html", help="where to write it (default report.html)"),
                          "--compare": dict(default=None, metavar="MODEL",
                                            help="a second .keras/.h5 model: add the CKA of "
                                                 "every layer pair of the two models")})


def precompute(argv=None) -> int:
    """``deepling precompute``: fill the cache so that every view starts instant."""
    def work(a, workspace, progress):
        from deepling.service.precompute import precompute as fill
        from deepling.web.views.testing import DEFAULT_SAMPLE

        done = fill(workspace, robustness_size=DEFAULT_SAMPLE, progress=progress)
        return "Cached: " + "; ".join(done)

    return _offline_tool(argv, "deepling precompute",
                         "Fill the cache so that every view of the app starts instant.", work)


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
    commands = {"serve": serve, "report": report, "precompute": precompute,
                "train-demo": None, "evaluate-demo": evaluate_demo}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print("usage: deepling {serve,report,precompute,train-demo,evaluate-demo} [options]\n\n"
              "  serve          start the app (see deepling serve --help)\n"
              "  report         write an offline HTML report (--model, --data, --out)\n"
              "  precompute     fill the cache so every view starts instant\n"
              "  train-demo     train the demo CNN on CIFAR-10 and save it\n"
              "  evaluate-demo  measure the demo CNN's test accuracy")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if argv[0] == "train-demo":
        from deepling.models.demo import main as train_main

        return train_main(argv[1:])
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
