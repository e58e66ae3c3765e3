"""Search: find a troubleshooting flow in the user's own words (see :mod:`.services`).

Importing this package registers :func:`create_search_schema` in ``portal.database.EXTRA_SCHEMA``,
so ``create_schema()`` builds the search tables next to the models' tables.
"""

from ..database import EXTRA_SCHEMA
from .services import (
    Hit,
    create_search_schema,
    drop_search_schema,
    find,
    index_article,
    normalize_query,
    record_miss,
    reset_index,
    sync_index,
    unindex_article,
)

if create_search_schema not in EXTRA_SCHEMA:
    EXTRA_SCHEMA.append(create_search_schema)

__all__ = ["Hit", "create_search_schema", "drop_search_schema", "find", "index_article", "normalize_query",
           "record_miss", "reset_index", "sync_index", "unindex_article"]
