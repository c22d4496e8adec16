"""Message search at 1 M messages on PostgreSQL: seed a database, time the selector.

    .venv/bin/python bench/search.py [--messages 1000000] [--queries 300] [--keep]

Seeds a fresh database (banter_search_bench, dropped afterwards unless --keep) with users,
rooms and messages of pseudo-words drawn with a skew (a few words are everywhere, most are
rare, as in real text), in SQL (generate_series), then times `chat.search.search_messages`
plus the answer's payloads (what `GET /api/search/messages` does, minus HTTP) for random
members and words of each frequency class. Prints p50/p95/max per class, the row counts and
the time of the candidate query (the newest matches, before ranking) for one word of each
class. Not a test: a measurement (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
NAME = "banter_search_bench"
USERS, ROOMS, ROOMS_PER_USER, VOCABULARY = 2000, 200, 10, 20000


def _admin(statement: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(statement.encode())


def _words() -> list[str]:
    # Pronounceable, distinct pseudo-words: consonant-vowel syllables.
    rng = random.Random(7)
    consonants, vowels = "bcdfghklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add(
            "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
        )
    return sorted(words)


def _seed(messages: int, words: list[str]) -> None:
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_user (id, password, is_superuser, username, first_name, "
            "last_name, email, is_staff, is_active, date_joined, display_name, avatar_url, "
            "is_online, presence_status, token_generation) "
            "SELECT u, '!', false, 'user' || u, '', '', '', false, true, now(), '', '', false, "
            "'online', 0 FROM generate_series(1, %s) u",
            [USERS],
        )
        cursor.execute(
            "INSERT INTO chat_room (id, name, kind, is_public, created_at, last_seq) "
            "SELECT r, 'room ' || r, 'group', false, now(), 0 FROM generate_series(1, %s) r",
            [ROOMS],
        )
        # Each user in ROOMS_PER_USER rooms, spread evenly; joined before every message.
        cursor.execute(
            "INSERT INTO chat_membership (room_id, user_id, role, joined_at, last_read_seq) "
            "SELECT DISTINCT ((u * 7 + k * 13) %% %s) + 1, u, 'member', "
            "now() - interval '10 years', 0 "
            "FROM generate_series(1, %s) u, generate_series(0, %s) k",
            [ROOMS, USERS, ROOMS_PER_USER - 1],
        )
        # Skewed draws: power(random(), 3) puts most picks at the vocabulary's start. The
        # `g = g` keeps the inner query correlated, so each row draws its own words.
        cursor.execute(
            "INSERT INTO chat_message (room_id, sender_id, content, message_type, seq, "
            "created_at) "
            "SELECT (g %% %s) + 1, 1 + (g %% %s), "
            "(SELECT string_agg(w.words[1 + floor(power(random(), 3) * %s)::int], ' ') "
            " FROM generate_series(1, 6 + (g %% 10)) AS n, (SELECT %s::text[] AS words) w "
            " WHERE g = g), "
            "'text', g / %s + 1, now() - make_interval(secs => %s - g) "
            "FROM generate_series(1, %s) g",
            [ROOMS, USERS, len(words), words, ROOMS, messages, messages],
        )
        cursor.execute(
            "UPDATE chat_room r SET last_seq = s.n FROM (SELECT room_id, max(seq) n "
            "FROM chat_message GROUP BY room_id) s WHERE r.id = s.room_id"
        )
        cursor.execute("ANALYZE")
    print(f"seeded {messages} messages in {time.monotonic() - started:.0f} s")


def _time(user_ids: list[int], queries: list[str], label: str) -> None:
    from banter.accounts.models import User
    from chat import search

    users = User.objects.in_bulk(user_ids)
    times, found = [], []
    for user_id, q in zip(user_ids, queries, strict=True):
        started = time.perf_counter()
        hits = search.search_messages(users[user_id], q)
        search.hit_payloads(hits, user_id)
        times.append((time.perf_counter() - started) * 1000)
        found.append(len(hits))
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"{label:28} n={len(times):4} p50={statistics.median(times):6.1f} ms "
        f"p95={p95:6.1f} ms max={times[-1]:6.1f} ms  results/query={statistics.mean(found):.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse", action="store_true", help="time a database kept by an earlier --keep run"
    )
    args = parser.parse_args()

    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + NAME
    os.environ.update(
        DJANGO_SETTINGS_MODULE="banter.settings",
        DEBUG="1",
        DATABASE_URL=url,
        REDIS_URL="",
        LOG_LEVEL="WARNING",
    )
    if not args.reuse:
        _admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{NAME}"')
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        words = _words()
        if not args.reuse:
            call_command("migrate", verbosity=0)
            _seed(args.messages, words)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_relation_size('chat_message_search_room'))")
            print("GIN index size:", cursor.fetchone()[0])

        rng = random.Random(11)
        classes = {
            # By rank in the skewed draw: the first words are in most messages.
            "common word (top 10)": words[:10],
            "mid word (rank 100-1000)": words[100:1000],
            "rare word (rank 5000+)": words[5000:],
            "two words (common + mid)": [f"{a} {b}" for a in words[:10] for b in words[100:200]],
        }
        for label, pool in classes.items():
            user_ids = [rng.randint(1, USERS) for _ in range(args.queries)]
            _time(user_ids, [rng.choice(pool) for _ in range(args.queries)], label)
        with connection.cursor() as cursor:
            for q in (words[0], words[500], words[9000]):
                cursor.execute(
                    "EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF, SUMMARY ON) "
                    "SELECT m.id FROM chat_message m JOIN chat_membership ms "
                    "ON ms.room_id = m.room_id AND ms.user_id = 42, "
                    "websearch_to_tsquery('simple', %s) q WHERE m.search_vector @@ q "
                    "AND m.deleted_at IS NULL AND m.created_at >= ms.joined_at "
                    "ORDER BY m.id DESC LIMIT 500",
                    [q],
                )
                plan = [row[0] for row in cursor.fetchall()]
                print(f"candidates for {q!r}: {plan[-1].strip()}")
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            _admin(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
