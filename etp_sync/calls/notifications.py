"""StoreNotification protocol (5): subscribe to changes of a dataspace or of objects.

The flat public calls only; the subscriptions themselves, their routing and their restoration
after a reconnect live in the session's
:class:`~etp_sync.calls._subscription_registry.SubscriptionRegistry`.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ETPInvalidArgument
from ..uri import DataObjectURI, DataspaceURI
from ._core import SessionAPI
from .discovery import SCOPES, qualified_types
from .subscriptions import EventCallback, NotificationEvent, Subscription, context_uri

__all__ = ["NotificationCalls", "NotificationEvent", "Subscription"]


class NotificationCalls(SessionAPI):
    """StoreNotification calls of :class:`~etp_sync.ETPSession` (state: its
    ``subscription_registry``)."""

    @property
    def subscriptions(self) -> list[Subscription]:
        """The active subscriptions of this session."""
        return self.subscription_registry.active

    def subscribe_notifications(
        self,
        uri: str | DataspaceURI | DataObjectURI,
        *,
        scope: str = "self",
        depth: int = 1,
        types: Sequence[str] = (),
        include_object_data: bool = False,
        callback: EventCallback | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to changes under ``uri`` (a dataspace, given as URI or path, or an object).

        ``scope`` (self, sources, targets, sourcesOrSelf, targetsOrSelf) and ``depth`` select
        related objects of an object URI; ``types`` filters by qualified type (wildcards
        allowed); ``include_object_data`` asks for the XML with each change. Events go to
        ``callback`` (dispatch thread) or queue in the returned :class:`Subscription`.
        """
        if scope not in SCOPES:
            raise ETPInvalidArgument(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
        sub = Subscription(
            self.subscription_registry,
            uri=context_uri(uri),
            scope=scope,
            depth=int(depth),
            types=tuple(qualified_types(types)),
            include_object_data=bool(include_object_data),
            callback=callback,
        )
        return self.subscription_registry.subscribe(sub, timeout=timeout)
