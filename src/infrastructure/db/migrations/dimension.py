"""The embedding dimension a migration run was given."""

from __future__ import annotations

DEFAULT_EMBEDDING_DIMENSION = 384
#: Name of the Alembic config attribute (or `-x` argument) carrying the vector dimension.
DIMENSION_KEY = "embedding_dimension"


def configured_dimension() -> int:
    """From `config.attributes`, else `-x embedding_dimension=N`, else 384."""
    from alembic import context  # exists while a migration runs; imported only then

    given = context.config.attributes.get(DIMENSION_KEY)
    if given is None:
        given = context.get_x_argument(as_dictionary=True).get(DIMENSION_KEY)
    dimension = int(given) if given is not None else DEFAULT_EMBEDDING_DIMENSION
    if dimension < 1:
        raise ValueError(f"the embedding dimension must be positive, not {dimension}")
    return dimension
