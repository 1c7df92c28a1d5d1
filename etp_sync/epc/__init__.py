"""RESQML models in and out of a store: ``.epc`` + HDF5 files to a dataspace and back.

Needs h5py (``pip install 'etp_sync[epc]'``)::

    from etp_sync import ETPSession
    from etp_sync.epc import download_epc, upload_epc

    with ETPSession(url) as session:
        upload_epc(session, "model.epc", "project/model")  # objects + arrays, one transaction
        download_epc(session, [grid_uri], "copy.epc", linked=2)  # + what it refers to

Arrays are streamed block by block between the HDF5 file and the store (never whole in memory);
``progress(done, total)`` callbacks report array bytes. :class:`EpcReader` and
:class:`EpcWriter` read and write the package itself (content types, relationships, core
properties) for anyone building or inspecting EPC files.
"""

from __future__ import annotations

from ._blocks import DEFAULT_BLOCK_BYTES
from ._download import DownloadResult, download_dataspace, download_epc
from ._package import EpcPart, EpcReader, EpcWriter, content_type, part_name
from ._upload import ArrayRef, UploadResult, upload_epc

__all__ = [
    "DEFAULT_BLOCK_BYTES",
    "ArrayRef",
    "DownloadResult",
    "EpcPart",
    "EpcReader",
    "EpcWriter",
    "UploadResult",
    "content_type",
    "download_dataspace",
    "download_epc",
    "part_name",
    "upload_epc",
]
