"""An Upload row deleted by any path (the sweep, a user deleted with everything they own,
the admin) takes its files with it, once the deletion is committed: a rollback must not
leave a row whose files are gone."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from media.models import Upload
from media.services import delete_stored


@receiver(post_delete, sender=Upload, dispatch_uid="media.upload_files_deleted")
def upload_files_deleted(sender: type[Upload], instance: Upload, **kwargs: Any) -> None:
    names = [name for name in (instance.file, instance.thumbnail) if name]
    transaction.on_commit(lambda: delete_stored(names))
