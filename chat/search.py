"""Message search: what the caller may read, ranked, with highlighted snippets.

One selector over two engines, both kept in step by the database itself
(chat/migrations/0004_message_search.py): PostgreSQL's full-text search (a generated
`tsvector`, a GIN index, `websearch_to_tsquery`, `ts_rank_cd`, `ts_headline`) and SQLite's
FTS5 on the embedded default (`bm25`, `snippet`).

Only rooms the caller is a member of, only messages sent since they joined (history before
a join is not theirs to search, as recovery replays nothing from before it either), never a
deleted message. Ranked best first, newest first among equals (on PostgreSQL among the
newest RANKED_MATCHES matches); `before` (a message id) narrows to older messages.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from django.db import connection

from banter.accounts.models import User
from banter.core.errors import validation_error
from banter.core.validation import check_id, check_limit, check_optional_seq
from chat import payloads, selectors
from chat.models import Message

MAX_QUERY_LENGTH = 200
DEFAULT_LIMIT = 20
MAX_LIMIT = 50
# PostgreSQL ranks the newest this many matches (see _postgres).
RANKED_MATCHES = 500
# Match markers the engines put around hits. Control characters: clean_content strips them
# from every stored message, so they can only come from the engine; the snippet is escaped
# as HTML and only then are they turned into <mark> tags.
_START, _STOP = "\x02", "\x03"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class SearchHit:
    message: Message
    snippet: str  # HTML: the text escaped, each match in <mark>…</mark>
    rank: float  # higher is better; comparable within one answer only


def search_messages(
    user: User,
    q: Any,
    room_id: Any = None,
    before: Any = None,
    limit: Any = DEFAULT_LIMIT,
) -> list[SearchHit]:
    """The caller's best matches for `q`, at most `limit`."""
    query = _check_query(q)
    if room_id is not None:
        room_id = check_id(room_id, what="Room")
        selectors.membership_get(user, room_id)  # a room one may not read: 403/404, not []
    before = check_optional_seq(before, field="before")
    limit = check_limit(limit, maximum=MAX_LIMIT)
    if connection.vendor == "postgresql":
        rows = _postgres(int(user.pk), query, room_id, before, limit)
    else:
        rows = _sqlite(int(user.pk), query, room_id, before, limit)
    messages = Message.objects.select_related("sender").in_bulk([row[0] for row in rows])
    return [
        SearchHit(messages[message_id], _highlighted(snippet), float(rank))
        for message_id, rank, snippet in rows
        if message_id in messages  # deleted outright between the two reads
    ]


def hit_payloads(hits: list[SearchHit], viewer_id: int) -> list[dict[str, Any]]:
    reactions = selectors.reactions_of([hit.message for hit in hits], viewer_id)
    return [
        {
            "message": payloads.message_payload(hit.message, reactions.get(hit.message.pk, [])),
            "snippet": hit.snippet,
            "rank": round(hit.rank, 6),
        }
        for hit in hits
    ]


def _check_query(q: Any) -> str:
    if not isinstance(q, str) or not q.strip():
        raise validation_error("q is required", q="required")
    if len(q) > MAX_QUERY_LENGTH:
        raise validation_error(f"q must be at most {MAX_QUERY_LENGTH} characters", q="too long")
    if not _WORD.search(q):
        raise validation_error("q must contain a word", q="no word")
    return q.strip()


def _filters(room_id: int | None, before: int | None) -> tuple[str, list[Any]]:
    sql, params = "", []
    if room_id is not None:
        sql += " AND m.room_id = %s"
        params.append(room_id)
    if before is not None:
        sql += " AND m.id < %s"
        params.append(before)
    return sql, params


def _postgres(
    user_id: int, query: str, room_id: int | None, before: int | None, limit: int
) -> list[tuple[int, float, str]]:
    extra, params = _filters(room_id, before)
    # Ranked among the newest RANKED_MATCHES matches: a word in a third of all messages
    # otherwise ranks every one of them (p95 196 ms at 1 M messages; 20 ms capped, bench/
    # search.py and docs/benchmarks.md), and in a chat the recent matches are the ones
    # wanted. The planner walks the newest messages for a common word and the GIN index
    # for a rare one. The headline only for the page: ts_headline re-parses each text.
    sql = f"""
        SELECT hit.id, hit.rank, ts_headline('simple', m.content, hit.q, %s)
        FROM (
            SELECT c.id, ts_rank_cd(c.search_vector, c.q) AS rank, c.q
            FROM (
                SELECT m.id, m.search_vector, q
                FROM chat_message m
                JOIN chat_membership ms ON ms.room_id = m.room_id AND ms.user_id = %s,
                    websearch_to_tsquery('simple', %s) q
                WHERE m.search_vector @@ q AND m.deleted_at IS NULL
                    AND m.created_at >= ms.joined_at{extra}
                ORDER BY m.id DESC
                LIMIT {RANKED_MATCHES}
            ) c
            ORDER BY rank DESC, c.id DESC
            LIMIT %s
        ) hit
        JOIN chat_message m ON m.id = hit.id
        ORDER BY hit.rank DESC, hit.id DESC
    """
    # One passage around the best match, punctuation kept (fragments would drop it): a short
    # message shows whole, as SQLite's snippet shows it.
    options = f"StartSel={_START}, StopSel={_STOP}, MaxWords=35, MinWords=15"
    with connection.cursor() as cursor:
        cursor.execute(sql, [options, user_id, query, *params, limit])
        return [(int(i), float(r), str(s)) for i, r, s in cursor.fetchall()]


def _sqlite(
    user_id: int, query: str, room_id: int | None, before: int | None, limit: int
) -> list[tuple[int, float, str]]:
    extra, params = _filters(room_id, before)
    # Every word as a quoted FTS5 string, all required: the caller's text is never FTS5
    # query syntax (a stray quote or `NEAR(` must not be an error or an operator).
    match = " ".join('"' + word.replace('"', '""') + '"' for word in _WORD.findall(query))
    sql = f"""
        SELECT m.id, -bm25(chat_message_fts) AS rank,
            snippet(chat_message_fts, 0, %s, %s, ' … ', 24)
        FROM chat_message_fts
        JOIN chat_message m ON m.id = chat_message_fts.rowid
        JOIN chat_membership ms ON ms.room_id = m.room_id AND ms.user_id = %s
        WHERE chat_message_fts MATCH %s AND m.deleted_at IS NULL
            AND m.created_at >= ms.joined_at{extra}
        ORDER BY rank DESC, m.id DESC
        LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [_START, _STOP, user_id, match, *params, limit])
        return [(int(i), float(r), str(s)) for i, r, s in cursor.fetchall()]


def _highlighted(snippet: str) -> str:
    return html.escape(snippet).replace(_START, "<mark>").replace(_STOP, "</mark>")
