"""Titles up through the catalogue: title, series, genre, content type, "*".

    title      EP000185011 "Show: S2E2" (episode)      MV000253 "A Film" (movie)
    series     series:SE000185 "Show (series)"         MV000253 "A Film"  (a movie stays itself)
    genre      genre:drama:episode "Drama (episodes)"   genre:drama:movie "Drama (movies)"
    type       type:episode "Any episode"              type:movie "Any movie"
    *          *

Each label carries two companions the extract publishes with it: `title_name` and
`content_type`, always those of the label (a generalized title never keeps the content type or
name of the title it hides). A title missing from the day's catalogue (a late catalogue update)
is known only by the play's content type: it sits under the genre "unknown" of that type and is
never published below that level.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Literal

from transforms.errors import RawSchemaError
from transforms.privacy.hierarchies.base import TOP, Hierarchy, Resolver, Spec

UNKNOWN_GENRE = "unknown"
CONTENT_TYPES = ("movie", "episode", "trailer")


class TitlesSpec(Spec):
    type: Literal["titles"]

    def build(self, resolve: Resolver) -> Hierarchy:
        return TitlesOperator()


_PLURALS = {"movie": "movies", "episode": "episodes", "trailer": "trailers"}


def _plural(content_type: str) -> str:
    return _PLURALS.get(content_type) or content_type + "s"


class TitlesOperator(Hierarchy):
    companions = ("title_name", "content_type")
    needs = ("catalogue",)

    def __init__(self) -> None:
        self.level_names = ["title", "series", "genre", "content_type", TOP]
        self._catalogue: dict[str, tuple] | None = None

    def bind(self, data: dict[str, object]) -> None:
        """`data["catalogue"]`: rows (title_id, title_name, content_type, series_id, series_name, genre)."""
        self._catalogue = {row[0]: row for row in data["catalogue"]}  # type: ignore[attr-defined]

    def _levels(self, value: Hashable) -> list[tuple[str, str, str]]:
        """(label, title_name, content_type) at every level."""
        if self._catalogue is None:
            raise RawSchemaError("the titles hierarchy needs the day's catalogue; none was bound")
        title_id, play_type = value if isinstance(value, tuple) else (value, None)  # type: ignore[misc]
        row = self._catalogue.get(title_id)
        top = (TOP, TOP, TOP)
        if row is None:  # not in tonight's catalogue: only its content type is known
            ctype = play_type if play_type in CONTENT_TYPES else "episode"
            unknown = (f"genre:{UNKNOWN_GENRE}:{ctype}", f"{_plural(ctype).capitalize()} not in the catalogue", ctype)
            return [unknown, unknown, unknown, (f"type:{ctype}", f"Any {ctype}", ctype), top]
        _, name, ctype, series_id, series_name, genre = row[:6]
        ctype = ctype if ctype in CONTENT_TYPES else (play_type if play_type in CONTENT_TYPES else "episode")
        genre = (genre or UNKNOWN_GENRE).strip().lower()
        title = (title_id, name or title_id, ctype)
        series = (f"series:{series_id}", f"{series_name} (series)", ctype) if series_id else title
        return [
            title,
            series,
            (f"genre:{genre}:{ctype}", f"{genre.capitalize()} ({_plural(ctype)})", ctype),
            (f"type:{ctype}", f"Any {ctype}", ctype),
            top,
        ]

    def labels(self, value: Hashable) -> list[str]:
        return [label for label, _, _ in self._levels(value)]

    def companion_values(self, value: Hashable) -> list[dict[str, str]]:
        return [{"title_name": name, "content_type": ctype} for _, name, ctype in self._levels(value)]

    def labelled(self, value: Hashable) -> tuple[list[str], list[tuple[str, ...]]]:
        levels = self._levels(value)  # once for both; companions in `companions` order
        return [label for label, _, _ in levels], [(name, ctype) for _, name, ctype in levels]

    def explain(self, level: int) -> str:
        return [
            "a catalogue title id (`EP…` episode, `MV…` movie, `TR…` trailer)",
            "`series:<id>` (every episode of a series)",
            "`genre:<genre>:<type>`, e.g. `genre:comedy:episode`; plays of titles missing from the catalogue "
            "are `genre:unknown:<type>`",
            "`type:<type>` (`type:movie`, `type:episode`, `type:trailer`)",
            "`*` (any title)",
        ][level]

    def domain(self, level: int) -> list[str] | None:
        if level == 3:
            return [f"type:{t}" for t in CONTENT_TYPES]
        if level == 4:
            return [TOP]
        return None

    def companion_domain(self, companion: str, level: int) -> list[str] | None:
        if companion == "content_type":
            return [TOP] if level == 4 else list(CONTENT_TYPES)
        return [TOP] if level == 4 else None
