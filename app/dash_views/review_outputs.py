"""The Sort review callback's answer: every pattern-matched output left as it is except the few an action changed."""

from __future__ import annotations

from typing import Any

from dash import no_update

from app.services.review import Answer, pushed

# The callback's outputs, in its order (see app.dash_views.sort.register_callbacks).
LISTS, KEPT, NOTES, CLASSES, PRESSED, SLIDERS, PAGES, UNDO, UNDO_OFF, MESSAGE = range(10)
_STATES = {"accept": "accepted", "reject": "rejected"}


class ReviewOutputs:
    """Collects one answer: `no_update` everywhere (so the browser redraws nothing) until an action sets a part."""

    def __init__(self, outputs_list: list[Any], stack: Any) -> None:
        self.specs = outputs_list
        self.values: list[Any] = [[no_update] * len(spec) if isinstance(spec, list) else no_update
                                  for spec in outputs_list]
        self.stack = pushed(stack, None)

    def _set(self, group: int, match: dict[str, Any], value: Any) -> None:
        for i, spec in enumerate(self.specs[group]):
            if all(spec["id"].get(key) == want for key, want in match.items()):
                self.values[group][i] = value

    def push(self, answer: Answer) -> None:
        self.stack = pushed(self.stack, answer)
        self.values[UNDO], self.values[UNDO_OFF] = self.stack, not self.stack

    def pop(self) -> None:
        self.stack = self.stack[:-1]
        self.values[UNDO], self.values[UNDO_OFF] = self.stack, not self.stack

    def row(self, assignment_id: int, decision: str | None, message: str) -> None:
        """The row's buttons show its answer and the sentence sits beside it."""
        self._set(NOTES, {"assignment": assignment_id}, message)
        for verdict, state in _STATES.items():
            on = decision == state
            self._set(CLASSES, {"assignment": assignment_id, "verdict": verdict}, "button small" + (" active" if on else ""))
            self._set(PRESSED, {"assignment": assignment_id, "verdict": verdict}, "true" if on else "false")

    def kept(self, context: str | None, count: int) -> None:
        self._set(KEPT, {"context": context}, kept_words(count))

    def list(self, context: str, children: Any, page: int) -> None:
        self._set(LISTS, {"context": context}, children)
        self._set(PAGES, {"context": context}, page)

    def slider(self, context: str, cutoff: float | None) -> None:
        self._set(SLIDERS, {"context": context}, round(cutoff if cutoff is not None else 1.0, 2))

    def page_of(self, context: str, pages: list[Any]) -> int:
        for spec, page in zip(self.specs[PAGES], pages or [], strict=False):
            if spec["id"].get("context") == context and isinstance(page, int) and page >= 0:
                return page
        return 0

    def message(self, text: str) -> list[Any]:
        self.values[MESSAGE] = text
        return self.values



def kept_words(count: int) -> str:
    return f"{count:,} songs kept"
