"""The Model and Sort pages say what each playlist promises, the library's share, and why there is no playlist."""

from app.dash_views import sort as sort_page
from app.services.training import (
    grouping_sentence, holdout_rows, promise_lines, reliability_frame, reliability_sentence,
)
from app.services.sort_review import PlaylistReview

METRICS = {
    "data": {"grouping": "whole artists are held out", "background_tracks": 1200,
             "reliability": {"bins": [{"low": 0.8, "high": 0.9, "predicted": 0.85, "observed": 0.8, "pairs": 40}]}},
    "contexts": {"study": {"message": "'study': cutoff 0.91 keeps 30% of its tracks"},
                 "party": {"message": "'party': no playlist, because no cutoff reaches precision 0.85 (...). "
                                      "What would help: harvest more playlists of it"}},
    "test": {"contexts": {"study": {"test_tracks": 100, "assigned": 30, "precision": 0.9, "promised_precision": 0.86,
                                    "recall": 0.27, "estimated_share": 0.21, "true_share": 0.2}}},
}


def _text(component) -> str:
    if isinstance(component, str):
        return component
    children = getattr(component, "children", None)
    if children is None:
        return ""
    if not isinstance(children, list):
        children = [children]
    return " ".join(" ".join(_text(child) for child in children if child is not None).split())


def test_the_model_page_states_the_grouping_background_promises_and_calibration():
    assert grouping_sentence(METRICS).startswith("Whole artists are held out. 1,200 tracks in none of these")
    assert "no playlist, because" in promise_lines(METRICS)[1]
    assert holdout_rows(METRICS)[0]["share"] == "21% (20%)"
    frame = reliability_frame(METRICS)
    assert "5%" in reliability_sentence(frame)
    assert "retrain" in reliability_sentence(reliability_frame({"data": {}}))
    from app.models.cutoffs import NO_BACKGROUND
    from app.services.training import cutoff_sentence

    waiting = cutoff_sentence({"context": "party", "cutoff": None, "target_precision": 0.8,
                               "message": f"'party': no promised playlist, because the model {NO_BACKGROUND}"})
    assert waiting.startswith("No cutoff may promise a precision for party yet") and "Lower the target" not in waiting
    alone = grouping_sentence({"data": {"grouping": "x", "background_tracks": 0}})
    assert "promises no precision on a library" in alone


def test_the_sort_page_says_why_a_context_has_no_playlist_and_labels_best_effort():
    empty = PlaylistReview("party", "Party", None, 0.0, 0.85,
                           words="about 300 of these songs sound like Party; no playlist, because it cannot reach 85%",
                           reason="'party': no playlist, because no cutoff reaches precision 0.85")
    text = _text(sort_page.track_list(empty))
    assert "About 300 of these songs sound like Party" in text
    assert "No playlist because no cutoff reaches precision 0.85" in text
    effort = PlaylistReview("study", "Study", 0.4, 0.5, 0.85, words="about 50 ...", best_effort=True,
                            reason="'study': BEST EFFORT, not promised: could not reach 0.85")
    text = _text(sort_page.track_list(effort))
    assert "Best effort, not promised" in text and "promising a precision" not in text
    # The warning gives the reason once, without repeating the message's own "BEST EFFORT, not promised" label.
    assert "Best effort, not promised: could not reach 0.85" in text and "not promised: BEST EFFORT" not in text
    kept = PlaylistReview("study", "Study", 0.9, 0.86, 0.85,
                          words="about 1,300 of these songs sound like Study; the playlist holds the 700 we are "
                                "at least 86% sure of")
    assert "the playlist holds the 700 we are at least 86% sure of" in _text(sort_page.track_list(kept))


def test_best_effort_is_an_explicit_opt_in_on_the_model_page():
    from app.dash_views import ids
    from app.dash_views.model_page import _train_card
    from app.services.training import BEST_EFFORT, train_params

    assert train_params(["study", "party"], 0.85)["best_effort"] is False
    assert train_params(["study", "party"], 0.85, [])["best_effort"] is False
    assert train_params(["study", "party"], 0.85, [BEST_EFFORT])["best_effort"] is True
    card = str(_train_card(["study", "party"], ["study", "party"]))
    assert ids.MODEL_BEST_EFFORT in card and "not promised" in card and "value=[]" in card
