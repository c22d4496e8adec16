"""PostgreSQL: the search index keyed by room as well as by word (chat/search.py).

A search reads only the caller's rooms. With the words alone in the index, a common word
matched a tenth of all messages, and the query walked the newest messages one by one until
it had found enough in the caller's rooms: p95 93 ms at 1 M messages (bench/search.py). With
`room_id` in the same GIN index (the btree_gin extension lets a GIN index hold a plain
column), the index hands out only the caller's rooms' matches: p95 29 ms, and every other
class of query faster too (docs/benchmarks.md, "search by room"). It replaces the words-only
index: a multicolumn GIN index serves a condition on any of its columns as well, so each
write still updates one index.

btree_gin ships with PostgreSQL (contrib) and is a trusted extension: the database's owner
may create it without being a superuser.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    "CREATE INDEX chat_message_search_room ON chat_message "
    "USING GIN (room_id, search_vector) WITH (fastupdate = off)",
    "DROP INDEX IF EXISTS chat_message_search",
]
BACKWARD = [
    "CREATE INDEX chat_message_search ON chat_message USING GIN (search_vector) "
    "WITH (fastupdate = off)",
    "DROP INDEX IF EXISTS chat_message_search_room",
]


def _postgres(statements: list[str]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0005_message_attachments"),
    ]

    operations = [migrations.RunPython(_postgres(FORWARD), _postgres(BACKWARD))]
