"""The musicnn provider's columns in words: its 50 tags as "sounds chill, mellow, acoustic", its embedding as unnamed."""

from __future__ import annotations

from collections.abc import Iterable

from app.pipeline.musicnn_net import MSD_TAGS, tag_key

TAG_PREFIX = "musicnn_tag_"
EMBEDDING_PREFIX = "musicnn_emb_"

# How a tag reads after "sounds": most as they are, the rest reworded for a sentence.
_REWORDED = {"female vocalists": "female-voiced", "female vocalist": "female-voiced",
             "male vocalists": "male-voiced", "00s": "2000s", "chillout": "chilled-out", "Hip-Hop": "hip-hop",
             "rnb": "R&B", "easy listening": "easy-listening", "Progressive rock": "progressive rock"}
TAG_WORDS = {f"musicnn_{tag_key(tag)}": _REWORDED.get(tag, tag.lower()) for tag in MSD_TAGS}


def is_tag(column: str) -> bool:
    return column.startswith(TAG_PREFIX)


def is_embedding(column: str) -> bool:
    """A dimension of the learned embedding: useful to models, meaningless on an axis or in a reason."""
    return column.startswith(EMBEDDING_PREFIX)


def tag_word(column: str) -> str:
    return TAG_WORDS.get(column, column.removeprefix(TAG_PREFIX).replace("_", " "))


def tag_value_words(column: str, high: bool) -> str:
    """One tag column as a reason or a coefficient: "sounds mellow" / "does not sound mellow"."""
    return f"sounds {tag_word(column)}" if high else f"does not sound {tag_word(column)}"


def sounds_like(columns: Iterable[str], top: int = 3) -> str | None:
    """The tags that stand out for a track, strongest first, as one reason: "sounds chill, mellow, acoustic"."""
    words = list(dict.fromkeys(tag_word(c) for c in columns if is_tag(c)))[:top]
    return f"sounds {', '.join(words)}" if words else None
