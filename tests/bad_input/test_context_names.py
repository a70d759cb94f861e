"""Context names: every refusal word for word, the names we accept kept as typed, markup stored and shown as text."""

from __future__ import annotations

import json

import pytest

from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.pipeline.naming import ContextNameError, validate_contexts
from tests.auth.helpers import add_user, sandbox_app, session_login
from tests.dash_views.helpers import call, outputs

SCRIPT = "<script>alert('pwned')</script>"
IMG = "<img src=x onerror=alert(1)>"
LINK = "[click](javascript:alert(1))"  # markdown, would be a link if rendered as markdown
FIFTY = [f"context {i}" for i in range(50)]

REFUSED = [
    ("nothing", [], "give at least one context name"),
    ("empty", [""], "context 1 is empty"),
    ("whitespace", [" \t\u00a0\u3000 "], "context 1 is empty"),
    ("empty second", ["workout", ""], "context 2 is empty"),
    ("1,000 characters", ["a" * 1000], "context 1 is 1000 characters long; the limit is 100"),
    ("101 characters", ["b" * 101], "context 1 is 101 characters long; the limit is 100"),
    ("500 contexts", [f"context {i}" for i in range(500)], "500 contexts given; at most 50 can be harvested at once"),
    ("51 contexts", [*FIFTY, "one more"], "51 contexts given; at most 50 can be harvested at once"),
    ("duplicate in other case", ["Workout", "WORKOUT"],
     "'WORKOUT' and 'Workout' are the same context (names ignore case and spacing); give it once"),
    ("duplicate with spacing", ["rainy day", "  Rainy   DAY "],
     "'Rainy DAY' and 'rainy day' are the same context (names ignore case and spacing); give it once"),
    ("duplicate German sharp s", ["Straße", "STRASSE"],
     "'STRASSE' and 'Straße' are the same context (names ignore case and spacing); give it once"),
    ("duplicate composed/decomposed", ["café", "cafe\u0301"],
     "'café' and 'café' are the same context (names ignore case and spacing); give it once"),
    ("NUL byte", ["work\x00out"], "a name contains a control character (an invisible code); type it again without it"),
    ("escape sequence", ["\x1b[31mred"],
     "a name contains a control character (an invisible code); type it again without it"),
    ("bidi override", ["\u202egnipeels"],
     "a name contains an invisible direction override (it makes text display out of order); type it again "
     "without it"),
    ("punctuation only", ["!!!"], "'!!!' has no letters, digits or emoji to search playlists for"),
    ("markup without words", ["<>"], "'<>' has no letters, digits or emoji to search playlists for"),
]

ACCEPTED = [
    ("emoji", ["🌙 sleep", "🏋️", "👩‍💻 coding"], ["🌙 sleep", "🏋️", "👩‍💻 coding"]),
    ("Arabic (right to left)", ["موسيقى هادئة"], ["موسيقى هادئة"]),
    ("Hebrew with a number", ["שיר 2"], ["שיר 2"]),
    ("mixed scripts", ["Lo-fi 東京 ночь"], ["Lo-fi 東京 ночь"]),
    ("spacing collapsed", ["  rainy \t day  "], ["rainy day"]),
    ("decomposed accents composed", ["cafe\u0301"], ["café"]),
    ("exactly 100 characters", ["c" * 100], ["c" * 100]),
    ("exactly 50 contexts", FIFTY, FIFTY),
    ("script tag kept literally", [SCRIPT], [SCRIPT]),
    ("img onerror kept literally", [IMG], [IMG]),
    ("markdown link kept literally", [LINK], [LINK]),
    ("SQL kept literally", ["'); DROP TABLE contexts;--"], ["'); DROP TABLE contexts;--"]),
]


@pytest.mark.parametrize("names, message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_refused_names_say_why_exactly(names, message):
    with pytest.raises(ContextNameError) as refused:
        validate_contexts(names)
    assert str(refused.value) == message


@pytest.mark.parametrize("names, kept", [case[1:] for case in ACCEPTED], ids=[case[0] for case in ACCEPTED])
def test_accepted_names_are_kept_as_typed(names, kept):
    assert validate_contexts(names) == kept


# ------------------------------------------------------------------------------ through the Contexts page

CHIPS = f"{ids.CONTEXT_CHIPS_STORE}.data"
MESSAGE = f"{ids.CONTEXT_MESSAGE}.children"
SHOWN = f"{ids.CONTEXT_CHIPS}.children"


@pytest.fixture
def browser(app_config, sandbox):
    app = sandbox_app(app_config, sandbox)
    client = app.test_client()
    session_login(client, add_user(app, "mira.s"))
    yield client
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def add(client, text: str | None, chips: list[str]) -> dict:
    return outputs(call(client, CHIPS, {f"{ids.CONTEXT_INPUT}.value": text, CHIPS: chips},
                        changed=[f"{ids.CONTEXT_ADD}.n_clicks"]))


PAGE_REFUSALS = [
    ("nothing typed", None, [], "Type a context name first, e.g. workout or rainy day."),
    ("only commas and spaces", " , ,  ", [], "Type a context name first, e.g. workout or rainy day."),
    ("1,000 characters", "a" * 1000, [], "Context 1 is 1000 characters long; the limit is 100."),
    ("the 51st", "one more", FIFTY, "51 contexts given; at most 50 can be harvested at once."),
    ("500 at once", ",".join(f"c{i}" for i in range(500)), [],
     "500 contexts given; at most 50 can be harvested at once."),
    ("duplicate in other case", "WORKOUT", ["workout"],
     "'WORKOUT' and 'workout' are the same context (names ignore case and spacing); give it once."),
    ("control character", "work\x07out", [],
     "A name contains a control character (an invisible code); type it again without it."),
]


def test_the_contexts_page_refuses_with_the_same_words_and_keeps_the_chips(browser):
    for name, text, chips, message in PAGE_REFUSALS:
        shown = add(browser, text, chips)
        assert shown[MESSAGE] == message, name
        assert shown[CHIPS] == chips, f"{name}: the chips stay as they were"
        assert f"{ids.CONTEXT_INPUT}.value" not in shown, f"{name}: what was typed stays, to be corrected"


def test_markup_is_stored_literally_and_shown_as_a_text_child_never_as_html(browser):
    typed = [SCRIPT, IMG, LINK, "موسيقى هادئة", "🌙 sleep"]
    stored = add(browser, ", ".join(typed), [])
    assert stored[MESSAGE] == ""
    assert stored[CHIPS] == typed, "stored exactly as typed: no escaping into the data, no stripping"

    answer = call(browser, SHOWN, {CHIPS: stored[CHIPS]}, changed=[CHIPS])
    body = answer.get_data(as_text=True)
    assert "dangerouslySetInnerHTML" not in body and "Markdown" not in body
    items = outputs(answer)[SHOWN]
    assert [item["type"] for item in items] == ["Li"] * len(typed)
    for item, name in zip(items, typed):
        span, button = item["props"]["children"]
        assert (span["type"], span["namespace"]) == ("Span", "dash_html_components")
        assert span["props"]["children"] == name, "the name is a plain string child: React renders it as text"
        assert button["props"]["title"] == f"Remove {name}" and button["props"]["aria-label"] == f"Remove {name}"
    # The JSON itself carries the markup as data: "<" is inside a JSON string, never raw HTML in a page.
    assert json.loads(body)["response"][ids.CONTEXT_CHIPS]["children"][0]["props"]["children"][0]["props"][
        "children"] == SCRIPT
