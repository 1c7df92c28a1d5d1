"""StoreNotification protocol (5): subscribe to changes of a dataspace or of objects.

The flat public calls only; the subscriptions themselves, their routing and their restoration
after a reconnect live in the session's
:class:`~etp_sync.calls._subscription_registry.SubscriptionRegistry`.
"""

from __future__ import annotations

from ..uri import DataObjectURI, DataspaceURI
from ._core import SessionAPI
from .discovery import SCOPES, TypeFilter, _depth, _enum_symbol, context_uri, qualified_types
from .subscriptions import EventCallback, NotificationEvent, Subscription

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
        types: TypeFilter = (),
        include_object_data: bool = False,
        callback: EventCallback | None = None,
        timeout: float | None = None,
    ) -> Subscription:
        """Subscribe to changes under ``uri`` (a dataspace, given as URI or path, or an object).

        ``scope`` (self, sources, targets, sourcesOrSelf, targetsOrSelf) and ``depth`` select
        related objects of an object URI; ``types`` filters by qualified type (wildcards
        allowed); ``include_object_data`` asks for the XML with each change. Events go to
        ``callback`` (dispatch thread) or queue in the returned :class:`Subscription`.
        Arguments are checked as :meth:`get_resources` checks them, before anything is sent
        (a malformed URI or type is an :class:`~etp_sync.errors.InvalidURIError`).
        """
        sub = Subscription(
            self.subscription_registry,
            uri=str(context_uri(uri)),
            scope=_enum_symbol("scope", scope, SCOPES),
            depth=_depth(depth),
            types=tuple(qualified_types(types)),
            include_object_data=bool(include_object_data),
            callback=callback,
        )
        return self.subscription_registry.subscribe(sub, timeout=timeout)
