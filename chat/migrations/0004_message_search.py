"""Full-text search over message content (chat/search.py), kept in step by the database.

PostgreSQL: a stored generated `tsvector` column with a GIN index. SQLite (the embedded
default): an FTS5 index over chat_message, kept by triggers. Either way every write path
(the ORM, the group-commit writer's raw INSERT, edits, the admin) updates the index with no
code of ours, in the write's own transaction. The 'simple' configuration and unicode61
tokenizer: no language's stemming, since a chat holds many languages.

The GIN index has fastupdate off: with its pending list on, the send that filled the list
(4 MB) flushed it inside its own transaction, and the persisted sweep's p99 went to
128-136 ms at 2000 msgs/s (docs/benchmarks.md, "message search").

Mind on SQLite: Django alters a table there by rebuilding it (a copy, a drop, a rename),
which drops its triggers. A later migration that alters chat_message must create the three
triggers again (and `rebuild` the index), or SQLite search silently stops seeing new
messages; tests/chat/test_search.py searches a message sent after all migrations ran.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

POSTGRES_FORWARD = [
    "ALTER TABLE chat_message ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED",
    "CREATE INDEX chat_message_search ON chat_message USING GIN (search_vector) "
    "WITH (fastupdate = off)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS chat_message_search",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector",
]
SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE chat_message_fts USING fts5(content, content='chat_message', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chat_message_fts_insert AFTER INSERT ON chat_message BEGIN "
    "INSERT INTO chat_message_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER chat_message_fts_delete AFTER DELETE ON chat_message BEGIN "
    "INSERT INTO chat_message_fts(chat_message_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER chat_message_fts_update AFTER UPDATE OF content ON chat_message BEGIN "
    "INSERT INTO chat_message_fts(chat_message_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); "
    "INSERT INTO chat_message_fts(rowid, content) VALUES (new.id, new.content); END",
    "INSERT INTO chat_message_fts(chat_message_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS chat_message_fts_insert",
    "DROP TRIGGER IF EXISTS chat_message_fts_delete",
    "DROP TRIGGER IF EXISTS chat_message_fts_update",
    "DROP TABLE IF EXISTS chat_message_fts",
]


def _run(statements: dict[str, list[str]]) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0003_reaction"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
