"""Server profiles: which server the embedded one behaves like.

``"etp12"`` (the default) follows ETP 1.2, and open-etp-server's published behaviour wherever the
specification leaves room (links without the HdfProxy, referential integrity at commit, resource
and edge custom data, ACL custom data on dataspaces, two-level dataspace paths, one write
transaction per dataspace, no default dataspace). ``"open-etp-server"`` adds that server's quirks,
so code tested against the embedded server meets what production does:

* every write needs a transaction (``require_transactions``);
* array metadata answer ``arrayOfBoolean`` as the logical type (the server does not keep it);
* every write of objects adds an import ``obj_Activity`` (and the dataspace's
  ``obj_ActivityTemplate``), see :mod:`.store._provenance`;
* a failed commit breaks the session: every later request gets EINVALID_STATE until the client
  reconnects;
* dataspaces report ``locked``, ``read-only`` and ``size`` custom data besides the ACL;
* chunked objects of a GetDataObjectsResponse are followed by one extra, empty response.

docs/open-etp-server.md lists each behaviour with its source and the test covering it.
"""

from __future__ import annotations

from dataclasses import dataclass

from etp_sync.errors import ETPInvalidArgument

__all__ = ["DEFAULT_PROFILE", "PROFILES", "ServerProfile", "server_profile"]


@dataclass(frozen=True)
class ServerProfile:
    """Switches for the behaviours that tell one server from another (see the module doc)."""

    name: str
    require_transactions: bool = False
    keep_logical_types: bool = True
    import_activities: bool = False
    fail_session_after_failed_commit: bool = False
    dataspace_status: bool = False
    trailing_empty_object_response: bool = False


PROFILES: dict[str, ServerProfile] = {
    "etp12": ServerProfile("etp12"),
    "open-etp-server": ServerProfile(
        "open-etp-server",
        require_transactions=True,
        keep_logical_types=False,
        import_activities=True,
        fail_session_after_failed_commit=True,
        dataspace_status=True,
        trailing_empty_object_response=True,
    ),
}
DEFAULT_PROFILE = PROFILES["etp12"]


def server_profile(profile: str | ServerProfile | None) -> ServerProfile:
    """The profile named ``profile`` (None: the default); ETPInvalidArgument for others."""
    if profile is None:
        return DEFAULT_PROFILE
    if isinstance(profile, ServerProfile):
        return profile
    found = PROFILES.get(profile)
    if found is None:
        raise ETPInvalidArgument(
            f"unknown server profile {profile!r}: use one of {', '.join(sorted(PROFILES))}"
        )
    return found
