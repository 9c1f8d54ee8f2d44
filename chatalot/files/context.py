"""Files and media as the composition root sees it (chatalot/bootstrap.py)."""

from __future__ import annotations

from chatalot.api.admin_files import AdminFilesController
from chatalot.api.files import FileDownloadController, FilesController
from chatalot.api.media import AccountMediaController, MediaController
from chatalot.api.space_media import CommunityMediaController, GroupMediaController
from chatalot.bounded_context import BoundedContext
from chatalot.domain.files.events import FILE_EVENTS
from chatalot.files.collector import running_collector
from chatalot.files.runtime import files_runtime
from projections.read_models.files import PROJECTORS

FILES = BoundedContext(
    name="files",
    events=FILE_EVENTS,
    projectors=PROJECTORS,
    controllers=[FilesController, FileDownloadController, AdminFilesController,
                 AccountMediaController, MediaController, CommunityMediaController,
                 GroupMediaController],
    runtimes={"files": files_runtime},
    processes=[running_collector],
)
