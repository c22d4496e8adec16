"""The one REST paging style: cursors, `?limit=` 1..100 (default 50).

Cursors, not page numbers: new rows arrive while a client pages, and offsets would then
repeat or skip items. Subclasses set only `ordering`.
"""

from rest_framework.pagination import CursorPagination


class BanterCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 100
