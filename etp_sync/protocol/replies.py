"""Which messages may answer which request: replies are checked against what was asked.

Taken from the schema: a request ``Name`` is answered by ``NameResponse`` of its own protocol,
plus the few answers ETP names otherwise (:data:`OTHER_REPLIES`: OpenSession for
RequestSession, Pong for Ping, Chunk parts of object replies, ...). ProtocolException and
Acknowledge may answer any request. Messages that ETP does not answer (notifications, Chunk,
CloseSession, ...) have no entry: :func:`expected_replies` returns None for them and nothing is
checked.
"""

from __future__ import annotations

from functools import cache

from ..schema import PROTOCOLS, Record

PROTOCOL_EXCEPTION = 1000
ACKNOWLEDGE = 1001

# (protocol, request name) -> answers not named "<request>Response" (same protocol).
OTHER_REPLIES: dict[tuple[int, str], tuple[str, ...]] = {
    (0, "RequestSession"): ("OpenSession",),
    (0, "Ping"): ("Pong",),
    (2, "GetFrame"): ("GetFrameResponseHeader", "GetFrameResponseRows"),
    (3, "GetResources"): ("GetResourcesEdgesResponse",),
    (4, "GetDataObjects"): ("Chunk",),
    (5, "UnsubscribeNotifications"): ("SubscriptionEnded",),
    (7, "UnsubscribePartNotification"): ("PartSubscriptionEnded",),
    (14, "FindDataObjects"): ("Chunk",),
    (21, "UnsubscribeChannels"): ("SubscriptionsStopped",),
    (22, "CloseChannels"): ("ChannelsClosed",),
}


@cache
def _replies(protocol: int, name: str) -> frozenset[int] | None:
    definition = PROTOCOLS.get(protocol)
    if definition is None:
        return None
    by_name = {t.name: number for number, t in definition.messages.items()}
    names = [f"{name}Response", *OTHER_REPLIES.get((protocol, name), ())]
    answers = {by_name[n] for n in names if n in by_name}
    if not answers:
        return None
    return frozenset({*answers, PROTOCOL_EXCEPTION, ACKNOWLEDGE})


# Answers a store may also send unprompted (it ends a subscription, stops or closes channels at
# any time): not taken for late replies.
_ALSO_UNSOLICITED = frozenset(
    ("SubscriptionEnded", "PartSubscriptionEnded", "SubscriptionsStopped", "ChannelsClosed")
)


@cache
def reply_types(protocol: int) -> frozenset[int]:
    """The message types of ``protocol`` that only ever answer a request (its ``…Response``
    messages, the other answers ETP names, Chunk, ProtocolException, Acknowledge): one that
    correlates to a request of ours nobody waits for is a late or repeated reply, never a
    notification."""
    definition = PROTOCOLS.get(protocol)
    if definition is None:
        return frozenset()
    answers: set[int] = set()
    for message in definition.messages.values():
        answers |= _replies(protocol, message.name) or frozenset()
    names = {number: t.name for number, t in definition.messages.items()}
    return frozenset(a for a in answers if names.get(a) not in _ALSO_UNSOLICITED)


def expected_replies(request: Record) -> frozenset[int] | None:
    """The message type numbers that may answer ``request`` (its protocol's, plus
    ProtocolException and Acknowledge), or None when ETP defines no answer to it."""
    if request.etp_protocol is None:
        return None
    return _replies(request.etp_protocol, request.etp_name)


__all__ = ["ACKNOWLEDGE", "OTHER_REPLIES", "PROTOCOL_EXCEPTION", "expected_replies", "reply_types"]
