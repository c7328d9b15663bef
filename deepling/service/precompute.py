"""Fill the disk cache ahead of a demo, so every view of the app starts instant.

What a first page asks for: the predictions on the whole dataset (confusion matrix,
accuracy, the choices), the default layer animation, and the robustness simulation at
the testing view's default sample size. Each is stored under the same content key the
app uses, so ``deepling serve`` on the same model and data reads it back.
"""

from __future__ import annotations


def precompute(workspace, model_id=None, data_id=None, *, robustness_size: int = 1000,
               choices=({},), progress=None) -> list[str]:
    """Compute and cache everything a first visit needs; returns what was done, in words."""
    from deepling.service.robustness import run_robustness
    from deepling.service.projections import ProjectionService

    report = progress or (lambda fraction, message: None)
    model_id, data_id = model_id or workspace.default_model_id, data_id or workspace.default_data_id
    done = []
    report(0.0, "predicting every image")
    preds = workspace.predictions(model_id, data_id)
    done.append(f"predictions on {len(preds.probabilities):,} images")
    share = 0.5 / max(len(choices), 1)
    for n, choice in enumerate(choices):
        p = ProjectionService(workspace).get_or_compute(
            model_id, data_id, dict(choice), progress=lambda f, m, n=n: report(0.05 + share * (n + f), m))
        done.append(f"layer animation of {len(p.indices):,} images × {len(p.sequence)} layers")
    if (workspace.dataset(model_id, data_id).labels >= 0).any():
        run_robustness(workspace, model_id, data_id, robustness_size,
                       progress=lambda f, m: report(0.55 + 0.45 * f, f"robustness: {m}"))
        done.append(f"robustness simulation on {robustness_size:,} images")
    report(1.0, "done")
    return done
