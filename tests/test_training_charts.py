"""The Training card's live charts: built empty, filled by small extensions."""

from deepling.web.views.training import curve_extension, curves_figure


def test_the_accuracy_axis_reads_0_to_100_percent_before_the_first_batch():
    axis = curves_figure("accuracy").layout.yaxis
    assert tuple(axis.range) == (0, 1) and axis.tickformat == ".0%"
    assert curves_figure("loss").layout.yaxis.range is None  # loss has no natural top


def test_a_delta_extends_batches_validation_and_freeze_marks():
    deltas = [{"batches": {"step": [1, 2], "accuracy": [0.1, 0.2]}},
              {"epochs": [{"step": 2, "val_accuracy": 0.3}],
               "freezes": [{"step": 2, "frozen": ["conv1a"]}]}]
    data, traces = curve_extension(deltas, "accuracy")
    assert traces == [0, 1, 2]
    assert data["x"][0] == [1, 2] and data["y"][0] == [0.1, 0.2]
    assert data["x"][1] == [2] and data["y"][1] == [0.3]
    assert data["x"][2] == [2, 2, None] and data["text"][2][0] == "frozen: conv1a"
    assert curve_extension([{"status": "running"}], "accuracy") is None
