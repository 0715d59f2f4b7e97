"""The text search configuration a migration run was given, baked into the full-text column."""

from __future__ import annotations

from infrastructure.db.full_text import DEFAULT_TEXT_SEARCH_LANGUAGE, checked_language

#: Name of the Alembic config attribute (or `-x` argument) carrying the configuration's name.
LANGUAGE_KEY = "text_search_language"


def configured_language() -> str:
    """From `config.attributes`, else `-x text_search_language=NAME`, else `english`."""
    from alembic import context  # exists while a migration runs; imported only then

    given = context.config.attributes.get(LANGUAGE_KEY)
    if given is None:
        given = context.get_x_argument(as_dictionary=True).get(LANGUAGE_KEY)
    return checked_language(str(given or DEFAULT_TEXT_SEARCH_LANGUAGE))
