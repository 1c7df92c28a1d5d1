"""Types of ``etp_sync.schema.messages`` for type checkers and editors.

Generated from the schema model by ``python -m etp_sync.schema._stubgen``; do not
edit.
"""

from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import Any as _Any
from uuid import UUID as _UUID

from etp_sync.schema._model import Record as _Record

from . import datatypes

class Core:
    class RequestSession(_Record):
        """ETP 1.2 message 1 of protocol 0, sent by client."""

        application_name: str
        application_version: str
        client_instance_id: _UUID
        requested_protocols: list[datatypes.SupportedProtocol]
        supported_data_objects: list[datatypes.SupportedDataObject]
        supported_compression: list[str]
        supported_formats: list[str]
        current_date_time: int
        earliest_retained_change_time: int
        server_authorization_required: bool
        endpoint_capabilities: dict[str, datatypes.DataValue]
        def __init__(
            self,
            *,
            application_name: str,
            application_version: str,
            client_instance_id: _UUID | str | bytes,
            requested_protocols: _Iterable[datatypes.SupportedProtocol | _Mapping[str, _Any]],
            supported_data_objects: _Iterable[datatypes.SupportedDataObject | _Mapping[str, _Any]],
            supported_compression: _Iterable[str] = ...,
            supported_formats: _Iterable[str] = ...,
            current_date_time: int,
            earliest_retained_change_time: int,
            server_authorization_required: bool = ...,
            endpoint_capabilities: _Mapping[str, datatypes.DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class OpenSession(_Record):
        """ETP 1.2 message 2 of protocol 0, sent by server."""

        application_name: str
        application_version: str
        server_instance_id: _UUID
        supported_protocols: list[datatypes.SupportedProtocol]
        supported_data_objects: list[datatypes.SupportedDataObject]
        supported_compression: str
        supported_formats: list[str]
        current_date_time: int
        earliest_retained_change_time: int
        session_id: _UUID
        endpoint_capabilities: dict[str, datatypes.DataValue]
        def __init__(
            self,
            *,
            application_name: str,
            application_version: str,
            server_instance_id: _UUID | str | bytes,
            supported_protocols: _Iterable[datatypes.SupportedProtocol | _Mapping[str, _Any]],
            supported_data_objects: _Iterable[datatypes.SupportedDataObject | _Mapping[str, _Any]],
            supported_compression: str = ...,
            supported_formats: _Iterable[str] = ...,
            current_date_time: int,
            earliest_retained_change_time: int,
            session_id: _UUID | str | bytes,
            endpoint_capabilities: _Mapping[str, datatypes.DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class CloseSession(_Record):
        """ETP 1.2 message 5 of protocol 0, sent by client,server."""

        reason: str
        def __init__(
            self,
            *,
            reason: str = ...,
        ) -> None: ...

    class Authorize(_Record):
        """ETP 1.2 message 6 of protocol 0, sent by client,server."""

        authorization: str
        supplemental_authorization: dict[str, str]
        def __init__(
            self,
            *,
            authorization: str,
            supplemental_authorization: _Mapping[str, str],
        ) -> None: ...

    class AuthorizeResponse(_Record):
        """ETP 1.2 message 7 of protocol 0, sent by client,server."""

        success: bool
        challenges: list[str]
        def __init__(
            self,
            *,
            success: bool,
            challenges: _Iterable[str],
        ) -> None: ...

    class Ping(_Record):
        """ETP 1.2 message 8 of protocol 0, sent by client,server."""

        current_date_time: int
        def __init__(
            self,
            *,
            current_date_time: int,
        ) -> None: ...

    class Pong(_Record):
        """ETP 1.2 message 9 of protocol 0, sent by client,server."""

        current_date_time: int
        def __init__(
            self,
            *,
            current_date_time: int,
        ) -> None: ...

    class ProtocolException(_Record):
        """ETP 1.2 message 1000 of protocol 0, sent by *."""

        error: datatypes.ErrorInfo | None
        errors: dict[str, datatypes.ErrorInfo]
        def __init__(
            self,
            *,
            error: datatypes.ErrorInfo | _Mapping[str, _Any] | None = ...,
            errors: _Mapping[str, datatypes.ErrorInfo | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class Acknowledge(_Record):
        """ETP 1.2 message 1001 of protocol 0, sent by *."""
        def __init__(self) -> None: ...

class ChannelStreaming:
    class ChannelMetadata(_Record):
        """ETP 1.2 message 1 of protocol 1, sent by producer."""

        channels: list[datatypes.ChannelData.ChannelMetadataRecord]
        def __init__(
            self,
            *,
            channels: _Iterable[datatypes.ChannelData.ChannelMetadataRecord | _Mapping[str, _Any]],
        ) -> None: ...

    class ChannelData(_Record):
        """ETP 1.2 message 2 of protocol 1, sent by producer."""

        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]],
        ) -> None: ...

    class StartStreaming(_Record):
        """ETP 1.2 message 3 of protocol 1, sent by consumer."""
        def __init__(self) -> None: ...

    class StopStreaming(_Record):
        """ETP 1.2 message 4 of protocol 1, sent by consumer."""
        def __init__(self) -> None: ...

    class TruncateChannels(_Record):
        """ETP 1.2 message 5 of protocol 1, sent by producer."""

        channels: list[datatypes.ChannelData.TruncateInfo]
        def __init__(
            self,
            *,
            channels: _Iterable[datatypes.ChannelData.TruncateInfo | _Mapping[str, _Any]],
        ) -> None: ...

class ChannelDataFrame:
    class GetFrameMetadata(_Record):
        """ETP 1.2 message 1 of protocol 2, sent by customer."""

        uri: str
        include_all_channel_secondary_indexes: bool
        def __init__(
            self,
            *,
            uri: str,
            include_all_channel_secondary_indexes: bool = ...,
        ) -> None: ...

    class GetFrameMetadataResponse(_Record):
        """ETP 1.2 message 2 of protocol 2, sent by store."""

        uri: str
        indexes: list[datatypes.ChannelData.IndexMetadataRecord]
        channels: list[datatypes.ChannelData.FrameChannelMetadataRecord]
        def __init__(
            self,
            *,
            uri: str,
            indexes: _Iterable[datatypes.ChannelData.IndexMetadataRecord | _Mapping[str, _Any]],
            channels: _Iterable[
                datatypes.ChannelData.FrameChannelMetadataRecord | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class GetFrame(_Record):
        """ETP 1.2 message 3 of protocol 2, sent by customer."""

        uri: str
        include_all_channel_secondary_indexes: bool
        requested_interval: datatypes.Object.IndexInterval
        request_uuid: _UUID
        requested_secondary_intervals: list[datatypes.Object.IndexInterval]
        def __init__(
            self,
            *,
            uri: str,
            include_all_channel_secondary_indexes: bool = ...,
            requested_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            request_uuid: _UUID | str | bytes,
            requested_secondary_intervals: _Iterable[
                datatypes.Object.IndexInterval | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class GetFrameResponseHeader(_Record):
        """ETP 1.2 message 4 of protocol 2, sent by store."""

        channel_uris: list[str]
        indexes: list[datatypes.ChannelData.IndexMetadataRecord]
        def __init__(
            self,
            *,
            channel_uris: _Iterable[str],
            indexes: _Iterable[datatypes.ChannelData.IndexMetadataRecord | _Mapping[str, _Any]],
        ) -> None: ...

    class CancelGetFrame(_Record):
        """ETP 1.2 message 5 of protocol 2, sent by customer."""

        request_uuid: _UUID
        def __init__(
            self,
            *,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class GetFrameResponseRows(_Record):
        """ETP 1.2 message 6 of protocol 2, sent by store."""

        frame: list[datatypes.ChannelData.FrameRow]
        def __init__(
            self,
            *,
            frame: _Iterable[datatypes.ChannelData.FrameRow | _Mapping[str, _Any]],
        ) -> None: ...

class Discovery:
    class GetResources(_Record):
        """ETP 1.2 message 1 of protocol 3, sent by customer."""

        context: datatypes.Object.ContextInfo
        scope: datatypes.Object.ContextScopeKind
        count_objects: bool
        store_last_write_filter: int | None
        active_status_filter: datatypes.Object.ActiveStatusKind | None
        include_edges: bool
        def __init__(
            self,
            *,
            context: datatypes.Object.ContextInfo | _Mapping[str, _Any],
            scope: datatypes.Object.ContextScopeKind | str | int,
            count_objects: bool = ...,
            store_last_write_filter: int | None = ...,
            active_status_filter: datatypes.Object.ActiveStatusKind | str | int | None = ...,
            include_edges: bool = ...,
        ) -> None: ...

    class GetResourcesResponse(_Record):
        """ETP 1.2 message 4 of protocol 3, sent by store."""

        resources: list[datatypes.Object.Resource]
        def __init__(
            self,
            *,
            resources: _Iterable[datatypes.Object.Resource | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class GetDeletedResources(_Record):
        """ETP 1.2 message 5 of protocol 3, sent by customer."""

        dataspace_uri: str
        delete_time_filter: int | None
        data_object_types: list[str]
        def __init__(
            self,
            *,
            dataspace_uri: str,
            delete_time_filter: int | None = ...,
            data_object_types: _Iterable[str] = ...,
        ) -> None: ...

    class GetDeletedResourcesResponse(_Record):
        """ETP 1.2 message 6 of protocol 3, sent by store."""

        deleted_resources: list[datatypes.Object.DeletedResource]
        def __init__(
            self,
            *,
            deleted_resources: _Iterable[
                datatypes.Object.DeletedResource | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class GetResourcesEdgesResponse(_Record):
        """ETP 1.2 message 7 of protocol 3, sent by store."""

        edges: list[datatypes.Object.Edge]
        def __init__(
            self,
            *,
            edges: _Iterable[datatypes.Object.Edge | _Mapping[str, _Any]],
        ) -> None: ...

class Store:
    class GetDataObjects(_Record):
        """ETP 1.2 message 1 of protocol 4, sent by customer."""

        uris: dict[str, str]
        format: str
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
            format: str = ...,
        ) -> None: ...

    class PutDataObjects(_Record):
        """ETP 1.2 message 2 of protocol 4, sent by customer."""

        data_objects: dict[str, datatypes.Object.DataObject]
        prune_contained_objects: bool
        def __init__(
            self,
            *,
            data_objects: _Mapping[str, datatypes.Object.DataObject | _Mapping[str, _Any]],
            prune_contained_objects: bool = ...,
        ) -> None: ...

    class DeleteDataObjects(_Record):
        """ETP 1.2 message 3 of protocol 4, sent by customer."""

        uris: dict[str, str]
        prune_contained_objects: bool
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
            prune_contained_objects: bool = ...,
        ) -> None: ...

    class GetDataObjectsResponse(_Record):
        """ETP 1.2 message 4 of protocol 4, sent by store."""

        data_objects: dict[str, datatypes.Object.DataObject]
        def __init__(
            self,
            *,
            data_objects: _Mapping[str, datatypes.Object.DataObject | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class Chunk(_Record):
        """ETP 1.2 message 8 of protocol 4, sent by store,customer."""

        blob_id: _UUID
        data: bytes
        final: bool
        def __init__(
            self,
            *,
            blob_id: _UUID | str | bytes,
            data: bytes,
            final: bool,
        ) -> None: ...

    class PutDataObjectsResponse(_Record):
        """ETP 1.2 message 9 of protocol 4, sent by store."""

        success: dict[str, datatypes.Object.PutResponse]
        def __init__(
            self,
            *,
            success: _Mapping[str, datatypes.Object.PutResponse | _Mapping[str, _Any]],
        ) -> None: ...

    class DeleteDataObjectsResponse(_Record):
        """ETP 1.2 message 10 of protocol 4, sent by store."""

        deleted_uris: dict[str, datatypes.ArrayOfString]
        def __init__(
            self,
            *,
            deleted_uris: _Mapping[str, datatypes.ArrayOfString | _Mapping[str, _Any]],
        ) -> None: ...

class StoreNotification:
    class ObjectChanged(_Record):
        """ETP 1.2 message 2 of protocol 5, sent by store."""

        change: datatypes.Object.ObjectChange
        request_uuid: _UUID
        def __init__(
            self,
            *,
            change: datatypes.Object.ObjectChange | _Mapping[str, _Any],
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class ObjectDeleted(_Record):
        """ETP 1.2 message 3 of protocol 5, sent by store."""

        uri: str
        change_time: int
        request_uuid: _UUID
        def __init__(
            self,
            *,
            uri: str,
            change_time: int,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class UnsubscribeNotifications(_Record):
        """ETP 1.2 message 4 of protocol 5, sent by customer."""

        request_uuid: _UUID
        def __init__(
            self,
            *,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class ObjectAccessRevoked(_Record):
        """ETP 1.2 message 5 of protocol 5, sent by store."""

        uri: str
        change_time: int
        request_uuid: _UUID
        def __init__(
            self,
            *,
            uri: str,
            change_time: int,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class SubscribeNotifications(_Record):
        """ETP 1.2 message 6 of protocol 5, sent by customer."""

        request: dict[str, datatypes.Object.SubscriptionInfo]
        def __init__(
            self,
            *,
            request: _Mapping[str, datatypes.Object.SubscriptionInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class SubscriptionEnded(_Record):
        """ETP 1.2 message 7 of protocol 5, sent by store."""

        reason: str
        request_uuid: _UUID
        def __init__(
            self,
            *,
            reason: str,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class UnsolicitedStoreNotifications(_Record):
        """ETP 1.2 message 8 of protocol 5, sent by store."""

        subscriptions: list[datatypes.Object.SubscriptionInfo]
        def __init__(
            self,
            *,
            subscriptions: _Iterable[datatypes.Object.SubscriptionInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class Chunk(_Record):
        """ETP 1.2 message 9 of protocol 5, sent by store."""

        blob_id: _UUID
        data: bytes
        final: bool
        def __init__(
            self,
            *,
            blob_id: _UUID | str | bytes,
            data: bytes,
            final: bool,
        ) -> None: ...

    class SubscribeNotificationsResponse(_Record):
        """ETP 1.2 message 10 of protocol 5, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class ObjectActiveStatusChanged(_Record):
        """ETP 1.2 message 11 of protocol 5, sent by store."""

        active_status: datatypes.Object.ActiveStatusKind
        change_time: int
        resource: datatypes.Object.Resource
        request_uuid: _UUID
        def __init__(
            self,
            *,
            active_status: datatypes.Object.ActiveStatusKind | str | int,
            change_time: int,
            resource: datatypes.Object.Resource | _Mapping[str, _Any],
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

class GrowingObject:
    class DeleteParts(_Record):
        """ETP 1.2 message 1 of protocol 6, sent by customer."""

        uri: str
        uids: dict[str, str]
        def __init__(
            self,
            *,
            uri: str,
            uids: _Mapping[str, str],
        ) -> None: ...

    class GetParts(_Record):
        """ETP 1.2 message 3 of protocol 6, sent by customer."""

        uri: str
        format: str
        uids: dict[str, str]
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
            uids: _Mapping[str, str],
        ) -> None: ...

    class GetPartsByRange(_Record):
        """ETP 1.2 message 4 of protocol 6, sent by customer."""

        uri: str
        format: str
        index_interval: datatypes.Object.IndexInterval
        include_overlapping_intervals: bool
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
            index_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            include_overlapping_intervals: bool,
        ) -> None: ...

    class PutParts(_Record):
        """ETP 1.2 message 5 of protocol 6, sent by customer."""

        uri: str
        format: str
        parts: dict[str, datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
            parts: _Mapping[str, datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class GetPartsResponse(_Record):
        """ETP 1.2 message 6 of protocol 6, sent by store."""

        uri: str
        format: str
        parts: dict[str, datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
            parts: _Mapping[str, datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class ReplacePartsByRange(_Record):
        """ETP 1.2 message 7 of protocol 6, sent by customer."""

        uri: str
        delete_interval: datatypes.Object.IndexInterval
        include_overlapping_intervals: bool
        format: str
        parts: list[datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            delete_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            include_overlapping_intervals: bool,
            format: str = ...,
            parts: _Iterable[datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class GetPartsMetadata(_Record):
        """ETP 1.2 message 8 of protocol 6, sent by customer."""

        uris: dict[str, str]
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
        ) -> None: ...

    class GetPartsMetadataResponse(_Record):
        """ETP 1.2 message 9 of protocol 6, sent by store."""

        metadata: dict[str, datatypes.Object.PartsMetadataInfo]
        def __init__(
            self,
            *,
            metadata: _Mapping[str, datatypes.Object.PartsMetadataInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class GetPartsByRangeResponse(_Record):
        """ETP 1.2 message 10 of protocol 6, sent by store."""

        uri: str
        format: str
        parts: list[datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
            parts: _Iterable[datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class DeletePartsResponse(_Record):
        """ETP 1.2 message 11 of protocol 6, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class PutPartsResponse(_Record):
        """ETP 1.2 message 13 of protocol 6, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class GetGrowingDataObjectsHeader(_Record):
        """ETP 1.2 message 14 of protocol 6, sent by customer."""

        uris: dict[str, str]
        format: str
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
            format: str = ...,
        ) -> None: ...

    class GetGrowingDataObjectsHeaderResponse(_Record):
        """ETP 1.2 message 15 of protocol 6, sent by store."""

        data_objects: dict[str, datatypes.Object.DataObject]
        def __init__(
            self,
            *,
            data_objects: _Mapping[str, datatypes.Object.DataObject | _Mapping[str, _Any]],
        ) -> None: ...

    class PutGrowingDataObjectsHeader(_Record):
        """ETP 1.2 message 16 of protocol 6, sent by customer."""

        data_objects: dict[str, datatypes.Object.DataObject]
        def __init__(
            self,
            *,
            data_objects: _Mapping[str, datatypes.Object.DataObject | _Mapping[str, _Any]],
        ) -> None: ...

    class PutGrowingDataObjectsHeaderResponse(_Record):
        """ETP 1.2 message 17 of protocol 6, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class ReplacePartsByRangeResponse(_Record):
        """ETP 1.2 message 18 of protocol 6, sent by store."""
        def __init__(self) -> None: ...

    class GetChangeAnnotations(_Record):
        """ETP 1.2 message 19 of protocol 6, sent by customer."""

        since_change_time: int
        uris: dict[str, str]
        latest_only: bool
        def __init__(
            self,
            *,
            since_change_time: int,
            uris: _Mapping[str, str],
            latest_only: bool = ...,
        ) -> None: ...

    class GetChangeAnnotationsResponse(_Record):
        """ETP 1.2 message 20 of protocol 6, sent by store."""

        changes: dict[str, datatypes.Object.ChangeResponseInfo]
        def __init__(
            self,
            *,
            changes: _Mapping[str, datatypes.Object.ChangeResponseInfo | _Mapping[str, _Any]],
        ) -> None: ...

class GrowingObjectNotification:
    class PartsChanged(_Record):
        """ETP 1.2 message 2 of protocol 7, sent by store."""

        uri: str
        request_uuid: _UUID
        change_kind: datatypes.Object.ObjectChangeKind
        change_time: int
        format: str
        parts: list[datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            request_uuid: _UUID | str | bytes,
            change_kind: datatypes.Object.ObjectChangeKind | str | int,
            change_time: int,
            format: str = ...,
            parts: _Iterable[datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class PartsDeleted(_Record):
        """ETP 1.2 message 3 of protocol 7, sent by store."""

        uri: str
        request_uuid: _UUID
        change_time: int
        uids: list[str]
        def __init__(
            self,
            *,
            uri: str,
            request_uuid: _UUID | str | bytes,
            change_time: int,
            uids: _Iterable[str],
        ) -> None: ...

    class UnsubscribePartNotification(_Record):
        """ETP 1.2 message 4 of protocol 7, sent by customer."""

        request_uuid: _UUID
        def __init__(
            self,
            *,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class PartsReplacedByRange(_Record):
        """ETP 1.2 message 6 of protocol 7, sent by store."""

        uri: str
        request_uuid: _UUID
        change_time: int
        deleted_interval: datatypes.Object.IndexInterval
        include_overlapping_intervals: bool
        format: str
        parts: list[datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            request_uuid: _UUID | str | bytes,
            change_time: int,
            deleted_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            include_overlapping_intervals: bool,
            format: str = ...,
            parts: _Iterable[datatypes.Object.ObjectPart | _Mapping[str, _Any]],
        ) -> None: ...

    class SubscribePartNotifications(_Record):
        """ETP 1.2 message 7 of protocol 7, sent by customer."""

        request: dict[str, datatypes.Object.SubscriptionInfo]
        def __init__(
            self,
            *,
            request: _Mapping[str, datatypes.Object.SubscriptionInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class PartSubscriptionEnded(_Record):
        """ETP 1.2 message 8 of protocol 7, sent by store."""

        reason: str
        request_uuid: _UUID
        def __init__(
            self,
            *,
            reason: str,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class UnsolicitedPartNotifications(_Record):
        """ETP 1.2 message 9 of protocol 7, sent by store."""

        subscriptions: list[datatypes.Object.SubscriptionInfo]
        def __init__(
            self,
            *,
            subscriptions: _Iterable[datatypes.Object.SubscriptionInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class SubscribePartNotificationsResponse(_Record):
        """ETP 1.2 message 10 of protocol 7, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

class DataArray:
    class GetDataArraysResponse(_Record):
        """ETP 1.2 message 1 of protocol 9, sent by store."""

        data_arrays: dict[str, datatypes.DataArrayTypes.DataArray]
        def __init__(
            self,
            *,
            data_arrays: _Mapping[
                str, datatypes.DataArrayTypes.DataArray | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class GetDataArrays(_Record):
        """ETP 1.2 message 2 of protocol 9, sent by customer."""

        data_arrays: dict[str, datatypes.DataArrayTypes.DataArrayIdentifier]
        def __init__(
            self,
            *,
            data_arrays: _Mapping[
                str, datatypes.DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class GetDataSubarrays(_Record):
        """ETP 1.2 message 3 of protocol 9, sent by customer."""

        data_subarrays: dict[str, datatypes.DataArrayTypes.GetDataSubarraysType]
        def __init__(
            self,
            *,
            data_subarrays: _Mapping[
                str, datatypes.DataArrayTypes.GetDataSubarraysType | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class PutDataArrays(_Record):
        """ETP 1.2 message 4 of protocol 9, sent by customer."""

        data_arrays: dict[str, datatypes.DataArrayTypes.PutDataArraysType]
        def __init__(
            self,
            *,
            data_arrays: _Mapping[
                str, datatypes.DataArrayTypes.PutDataArraysType | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class PutDataSubarrays(_Record):
        """ETP 1.2 message 5 of protocol 9, sent by customer."""

        data_subarrays: dict[str, datatypes.DataArrayTypes.PutDataSubarraysType]
        def __init__(
            self,
            *,
            data_subarrays: _Mapping[
                str, datatypes.DataArrayTypes.PutDataSubarraysType | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class GetDataArrayMetadata(_Record):
        """ETP 1.2 message 6 of protocol 9, sent by customer."""

        data_arrays: dict[str, datatypes.DataArrayTypes.DataArrayIdentifier]
        def __init__(
            self,
            *,
            data_arrays: _Mapping[
                str, datatypes.DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class GetDataArrayMetadataResponse(_Record):
        """ETP 1.2 message 7 of protocol 9, sent by store."""

        array_metadata: dict[str, datatypes.DataArrayTypes.DataArrayMetadata]
        def __init__(
            self,
            *,
            array_metadata: _Mapping[
                str, datatypes.DataArrayTypes.DataArrayMetadata | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class GetDataSubarraysResponse(_Record):
        """ETP 1.2 message 8 of protocol 9, sent by store."""

        data_subarrays: dict[str, datatypes.DataArrayTypes.DataArray]
        def __init__(
            self,
            *,
            data_subarrays: _Mapping[
                str, datatypes.DataArrayTypes.DataArray | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class PutUninitializedDataArrays(_Record):
        """ETP 1.2 message 9 of protocol 9, sent by customer."""

        data_arrays: dict[str, datatypes.DataArrayTypes.PutUninitializedDataArrayType]
        def __init__(
            self,
            *,
            data_arrays: _Mapping[
                str, datatypes.DataArrayTypes.PutUninitializedDataArrayType | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class PutDataArraysResponse(_Record):
        """ETP 1.2 message 10 of protocol 9, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class PutDataSubarraysResponse(_Record):
        """ETP 1.2 message 11 of protocol 9, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class PutUninitializedDataArraysResponse(_Record):
        """ETP 1.2 message 12 of protocol 9, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

class DiscoveryQuery:
    class FindResources(_Record):
        """ETP 1.2 message 1 of protocol 13, sent by customer."""

        context: datatypes.Object.ContextInfo
        scope: datatypes.Object.ContextScopeKind
        store_last_write_filter: int | None
        active_status_filter: datatypes.Object.ActiveStatusKind | None
        def __init__(
            self,
            *,
            context: datatypes.Object.ContextInfo | _Mapping[str, _Any],
            scope: datatypes.Object.ContextScopeKind | str | int,
            store_last_write_filter: int | None = ...,
            active_status_filter: datatypes.Object.ActiveStatusKind | str | int | None = ...,
        ) -> None: ...

    class FindResourcesResponse(_Record):
        """ETP 1.2 message 2 of protocol 13, sent by store."""

        resources: list[datatypes.Object.Resource]
        server_sort_order: str
        def __init__(
            self,
            *,
            resources: _Iterable[datatypes.Object.Resource | _Mapping[str, _Any]] = ...,
            server_sort_order: str,
        ) -> None: ...

class StoreQuery:
    class FindDataObjects(_Record):
        """ETP 1.2 message 1 of protocol 14, sent by customer."""

        context: datatypes.Object.ContextInfo
        scope: datatypes.Object.ContextScopeKind
        store_last_write_filter: int | None
        active_status_filter: datatypes.Object.ActiveStatusKind | None
        format: str
        def __init__(
            self,
            *,
            context: datatypes.Object.ContextInfo | _Mapping[str, _Any],
            scope: datatypes.Object.ContextScopeKind | str | int,
            store_last_write_filter: int | None = ...,
            active_status_filter: datatypes.Object.ActiveStatusKind | str | int | None = ...,
            format: str = ...,
        ) -> None: ...

    class FindDataObjectsResponse(_Record):
        """ETP 1.2 message 2 of protocol 14, sent by store."""

        data_objects: list[datatypes.Object.DataObject]
        server_sort_order: str
        def __init__(
            self,
            *,
            data_objects: _Iterable[datatypes.Object.DataObject | _Mapping[str, _Any]] = ...,
            server_sort_order: str,
        ) -> None: ...

    class Chunk(_Record):
        """ETP 1.2 message 3 of protocol 14, sent by store."""

        blob_id: _UUID
        data: bytes
        final: bool
        def __init__(
            self,
            *,
            blob_id: _UUID | str | bytes,
            data: bytes,
            final: bool,
        ) -> None: ...

class GrowingObjectQuery:
    class FindParts(_Record):
        """ETP 1.2 message 1 of protocol 16, sent by customer."""

        uri: str
        format: str
        def __init__(
            self,
            *,
            uri: str,
            format: str = ...,
        ) -> None: ...

    class FindPartsResponse(_Record):
        """ETP 1.2 message 2 of protocol 16, sent by store."""

        uri: str
        server_sort_order: str
        format: str
        parts: list[datatypes.Object.ObjectPart]
        def __init__(
            self,
            *,
            uri: str,
            server_sort_order: str,
            format: str = ...,
            parts: _Iterable[datatypes.Object.ObjectPart | _Mapping[str, _Any]] = ...,
        ) -> None: ...

class Transaction:
    class StartTransaction(_Record):
        """ETP 1.2 message 1 of protocol 18, sent by customer."""

        read_only: bool
        message: str
        dataspace_uris: list[str]
        def __init__(
            self,
            *,
            read_only: bool,
            message: str = ...,
            dataspace_uris: _Iterable[str] = ...,
        ) -> None: ...

    class StartTransactionResponse(_Record):
        """ETP 1.2 message 2 of protocol 18, sent by store."""

        transaction_uuid: _UUID
        successful: bool
        failure_reason: str
        def __init__(
            self,
            *,
            transaction_uuid: _UUID | str | bytes,
            successful: bool = ...,
            failure_reason: str = ...,
        ) -> None: ...

    class CommitTransaction(_Record):
        """ETP 1.2 message 3 of protocol 18, sent by customer."""

        transaction_uuid: _UUID
        def __init__(
            self,
            *,
            transaction_uuid: _UUID | str | bytes,
        ) -> None: ...

    class RollbackTransaction(_Record):
        """ETP 1.2 message 4 of protocol 18, sent by customer."""

        transaction_uuid: _UUID
        def __init__(
            self,
            *,
            transaction_uuid: _UUID | str | bytes,
        ) -> None: ...

    class CommitTransactionResponse(_Record):
        """ETP 1.2 message 5 of protocol 18, sent by store."""

        transaction_uuid: _UUID
        successful: bool
        failure_reason: str
        def __init__(
            self,
            *,
            transaction_uuid: _UUID | str | bytes,
            successful: bool = ...,
            failure_reason: str = ...,
        ) -> None: ...

    class RollbackTransactionResponse(_Record):
        """ETP 1.2 message 6 of protocol 18, sent by store."""

        transaction_uuid: _UUID
        successful: bool
        failure_reason: str
        def __init__(
            self,
            *,
            transaction_uuid: _UUID | str | bytes,
            successful: bool = ...,
            failure_reason: str = ...,
        ) -> None: ...

class ChannelSubscribe:
    class GetChannelMetadata(_Record):
        """ETP 1.2 message 1 of protocol 21, sent by customer."""

        uris: dict[str, str]
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
        ) -> None: ...

    class GetChannelMetadataResponse(_Record):
        """ETP 1.2 message 2 of protocol 21, sent by store."""

        metadata: dict[str, datatypes.ChannelData.ChannelMetadataRecord]
        def __init__(
            self,
            *,
            metadata: _Mapping[
                str, datatypes.ChannelData.ChannelMetadataRecord | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class SubscribeChannels(_Record):
        """ETP 1.2 message 3 of protocol 21, sent by customer."""

        channels: dict[str, datatypes.ChannelData.ChannelSubscribeInfo]
        def __init__(
            self,
            *,
            channels: _Mapping[
                str, datatypes.ChannelData.ChannelSubscribeInfo | _Mapping[str, _Any]
            ],
        ) -> None: ...

    class ChannelData(_Record):
        """ETP 1.2 message 4 of protocol 21, sent by store."""

        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]],
        ) -> None: ...

    class RangeReplaced(_Record):
        """ETP 1.2 message 6 of protocol 21, sent by store."""

        change_time: int
        channel_ids: list[int]
        changed_interval: datatypes.Object.IndexInterval
        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            change_time: int,
            channel_ids: _Iterable[int],
            changed_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]],
        ) -> None: ...

    class UnsubscribeChannels(_Record):
        """ETP 1.2 message 7 of protocol 21, sent by customer."""

        channel_ids: dict[str, int]
        def __init__(
            self,
            *,
            channel_ids: _Mapping[str, int],
        ) -> None: ...

    class SubscriptionsStopped(_Record):
        """ETP 1.2 message 8 of protocol 21, sent by store."""

        reason: str
        channel_ids: dict[str, int]
        def __init__(
            self,
            *,
            reason: str,
            channel_ids: _Mapping[str, int] = ...,
        ) -> None: ...

    class GetRanges(_Record):
        """ETP 1.2 message 9 of protocol 21, sent by customer."""

        request_uuid: _UUID
        channel_ranges: list[datatypes.ChannelData.ChannelRangeInfo]
        def __init__(
            self,
            *,
            request_uuid: _UUID | str | bytes,
            channel_ranges: _Iterable[datatypes.ChannelData.ChannelRangeInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class GetRangesResponse(_Record):
        """ETP 1.2 message 10 of protocol 21, sent by store."""

        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class CancelGetRanges(_Record):
        """ETP 1.2 message 11 of protocol 21, sent by customer."""

        request_uuid: _UUID
        def __init__(
            self,
            *,
            request_uuid: _UUID | str | bytes,
        ) -> None: ...

    class SubscribeChannelsResponse(_Record):
        """ETP 1.2 message 12 of protocol 21, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class ChannelsTruncated(_Record):
        """ETP 1.2 message 13 of protocol 21, sent by store."""

        channels: list[datatypes.ChannelData.TruncateInfo]
        change_time: int
        def __init__(
            self,
            *,
            channels: _Iterable[datatypes.ChannelData.TruncateInfo | _Mapping[str, _Any]],
            change_time: int,
        ) -> None: ...

    class GetChangeAnnotations(_Record):
        """ETP 1.2 message 14 of protocol 21, sent by customer."""

        channels: dict[str, datatypes.ChannelData.ChannelChangeRequestInfo]
        latest_only: bool
        def __init__(
            self,
            *,
            channels: _Mapping[
                str, datatypes.ChannelData.ChannelChangeRequestInfo | _Mapping[str, _Any]
            ],
            latest_only: bool = ...,
        ) -> None: ...

    class GetChangeAnnotationsResponse(_Record):
        """ETP 1.2 message 15 of protocol 21, sent by store."""

        changes: dict[str, datatypes.Object.ChangeResponseInfo]
        def __init__(
            self,
            *,
            changes: _Mapping[str, datatypes.Object.ChangeResponseInfo | _Mapping[str, _Any]],
        ) -> None: ...

class ChannelDataLoad:
    class OpenChannels(_Record):
        """ETP 1.2 message 1 of protocol 22, sent by customer."""

        uris: dict[str, str]
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
        ) -> None: ...

    class OpenChannelsResponse(_Record):
        """ETP 1.2 message 2 of protocol 22, sent by store."""

        channels: dict[str, datatypes.ChannelData.OpenChannelInfo]
        def __init__(
            self,
            *,
            channels: _Mapping[
                str, datatypes.ChannelData.OpenChannelInfo | _Mapping[str, _Any]
            ] = ...,
        ) -> None: ...

    class CloseChannels(_Record):
        """ETP 1.2 message 3 of protocol 22, sent by customer."""

        id: dict[str, int]
        def __init__(
            self,
            *,
            id: _Mapping[str, int],
        ) -> None: ...

    class ChannelData(_Record):
        """ETP 1.2 message 4 of protocol 22, sent by customer."""

        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]],
        ) -> None: ...

    class ReplaceRange(_Record):
        """ETP 1.2 message 6 of protocol 22, sent by customer."""

        changed_interval: datatypes.Object.IndexInterval
        channel_ids: list[int]
        data: list[datatypes.ChannelData.DataItem]
        def __init__(
            self,
            *,
            changed_interval: datatypes.Object.IndexInterval | _Mapping[str, _Any],
            channel_ids: _Iterable[int],
            data: _Iterable[datatypes.ChannelData.DataItem | _Mapping[str, _Any]],
        ) -> None: ...

    class ChannelsClosed(_Record):
        """ETP 1.2 message 7 of protocol 22, sent by store."""

        reason: str
        id: dict[str, int]
        def __init__(
            self,
            *,
            reason: str,
            id: _Mapping[str, int],
        ) -> None: ...

    class ReplaceRangeResponse(_Record):
        """ETP 1.2 message 8 of protocol 22, sent by store."""

        channel_change_time: int
        def __init__(
            self,
            *,
            channel_change_time: int,
        ) -> None: ...

    class TruncateChannels(_Record):
        """ETP 1.2 message 9 of protocol 22, sent by customer."""

        channels: dict[str, datatypes.ChannelData.TruncateInfo]
        def __init__(
            self,
            *,
            channels: _Mapping[str, datatypes.ChannelData.TruncateInfo | _Mapping[str, _Any]],
        ) -> None: ...

    class TruncateChannelsResponse(_Record):
        """ETP 1.2 message 10 of protocol 22, sent by store."""

        channels_truncated_time: dict[str, int]
        def __init__(
            self,
            *,
            channels_truncated_time: _Mapping[str, int],
        ) -> None: ...

class Dataspace:
    class GetDataspaces(_Record):
        """ETP 1.2 message 1 of protocol 24, sent by customer."""

        store_last_write_filter: int | None
        def __init__(
            self,
            *,
            store_last_write_filter: int | None = ...,
        ) -> None: ...

    class GetDataspacesResponse(_Record):
        """ETP 1.2 message 2 of protocol 24, sent by store."""

        dataspaces: list[datatypes.Object.Dataspace]
        def __init__(
            self,
            *,
            dataspaces: _Iterable[datatypes.Object.Dataspace | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class PutDataspaces(_Record):
        """ETP 1.2 message 3 of protocol 24, sent by customer."""

        dataspaces: dict[str, datatypes.Object.Dataspace]
        def __init__(
            self,
            *,
            dataspaces: _Mapping[str, datatypes.Object.Dataspace | _Mapping[str, _Any]],
        ) -> None: ...

    class DeleteDataspaces(_Record):
        """ETP 1.2 message 4 of protocol 24, sent by customer."""

        uris: dict[str, str]
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
        ) -> None: ...

    class DeleteDataspacesResponse(_Record):
        """ETP 1.2 message 5 of protocol 24, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class PutDataspacesResponse(_Record):
        """ETP 1.2 message 6 of protocol 24, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

class SupportedTypes:
    class GetSupportedTypes(_Record):
        """ETP 1.2 message 1 of protocol 25, sent by customer."""

        uri: str
        scope: datatypes.Object.ContextScopeKind
        return_empty_types: bool
        count_objects: bool
        def __init__(
            self,
            *,
            uri: str,
            scope: datatypes.Object.ContextScopeKind | str | int,
            return_empty_types: bool = ...,
            count_objects: bool = ...,
        ) -> None: ...

    class GetSupportedTypesResponse(_Record):
        """ETP 1.2 message 2 of protocol 25, sent by store."""

        supported_types: list[datatypes.Object.SupportedType]
        def __init__(
            self,
            *,
            supported_types: _Iterable[datatypes.Object.SupportedType | _Mapping[str, _Any]] = ...,
        ) -> None: ...

class WitsmlSoap:
    class WMLS_AddToStore(_Record):
        """ETP 1.2 message 1 of protocol 2100, sent by customer."""

        wml_type_in: str
        xml_in: str
        options_in: str
        capabilities_in: str
        def __init__(
            self,
            *,
            wml_type_in: str,
            xml_in: str,
            options_in: str,
            capabilities_in: str,
        ) -> None: ...

    class WMLS_AddToStoreResponse(_Record):
        """ETP 1.2 message 2 of protocol 2100, sent by store."""

        result: int
        supp_msg_out: str
        def __init__(
            self,
            *,
            result: int,
            supp_msg_out: str,
        ) -> None: ...

    class WMLS_DeleteFromStore(_Record):
        """ETP 1.2 message 3 of protocol 2100, sent by customer."""

        wml_type_in: str
        xml_in: str
        options_in: str
        capabilities_in: str
        def __init__(
            self,
            *,
            wml_type_in: str,
            xml_in: str,
            options_in: str,
            capabilities_in: str,
        ) -> None: ...

    class WMLS_DeleteFromStoreResponse(_Record):
        """ETP 1.2 message 4 of protocol 2100, sent by store."""

        result: int
        supp_msg_out: str
        def __init__(
            self,
            *,
            result: int,
            supp_msg_out: str,
        ) -> None: ...

    class WMLS_GetBaseMsg(_Record):
        """ETP 1.2 message 5 of protocol 2100, sent by customer."""

        return_value_in: int
        def __init__(
            self,
            *,
            return_value_in: int,
        ) -> None: ...

    class WMLS_GetBaseMsgResponse(_Record):
        """ETP 1.2 message 6 of protocol 2100, sent by store."""

        result: str
        def __init__(
            self,
            *,
            result: str,
        ) -> None: ...

    class WMLS_GetCap(_Record):
        """ETP 1.2 message 7 of protocol 2100, sent by customer."""

        options_in: str
        def __init__(
            self,
            *,
            options_in: str,
        ) -> None: ...

    class WMLS_GetCapResponse(_Record):
        """ETP 1.2 message 8 of protocol 2100, sent by store."""

        result: int
        capabilities_out: str
        supp_msg_out: str
        def __init__(
            self,
            *,
            result: int,
            capabilities_out: str,
            supp_msg_out: str,
        ) -> None: ...

    class WMLS_GetFromStore(_Record):
        """ETP 1.2 message 9 of protocol 2100, sent by customer."""

        wml_type_in: str
        xml_in: str
        options_in: str
        capabilities_in: str
        def __init__(
            self,
            *,
            wml_type_in: str,
            xml_in: str,
            options_in: str,
            capabilities_in: str,
        ) -> None: ...

    class WMLS_GetFromStoreResponse(_Record):
        """ETP 1.2 message 10 of protocol 2100, sent by store."""

        result: int
        xml_out: str
        supp_msg_out: str
        def __init__(
            self,
            *,
            result: int,
            xml_out: str,
            supp_msg_out: str,
        ) -> None: ...

    class WMLS_GetVersion(_Record):
        """ETP 1.2 message 11 of protocol 2100, sent by customer."""
        def __init__(self) -> None: ...

    class WMLS_GetVersionResponse(_Record):
        """ETP 1.2 message 12 of protocol 2100, sent by store."""

        result: str
        def __init__(
            self,
            *,
            result: str,
        ) -> None: ...

    class WMLS_UpdateInStore(_Record):
        """ETP 1.2 message 13 of protocol 2100, sent by customer."""

        wml_type_in: str
        xml_in: str
        options_in: str
        capabilities_in: str
        def __init__(
            self,
            *,
            wml_type_in: str,
            xml_in: str,
            options_in: str,
            capabilities_in: str,
        ) -> None: ...

    class WMLS_UpdateInStoreResponse(_Record):
        """ETP 1.2 message 14 of protocol 2100, sent by store."""

        result: int
        supp_msg_out: str
        def __init__(
            self,
            *,
            result: int,
            supp_msg_out: str,
        ) -> None: ...

class StoreOSDU:
    class CopyDataObjectsByValue(_Record):
        """ETP 1.2 message 1 of protocol 2404, sent by customer."""

        uri: str
        sources_depth: int
        data_object_types: list[str]
        def __init__(
            self,
            *,
            uri: str,
            sources_depth: int,
            data_object_types: _Iterable[str],
        ) -> None: ...

    class CopyDataObjectsByValueResponse(_Record):
        """ETP 1.2 message 2 of protocol 2404, sent by store."""

        copied_data_objects: list[str]
        def __init__(
            self,
            *,
            copied_data_objects: _Iterable[str],
        ) -> None: ...

class DataspaceOSDU:
    class GetDataspaceInfo(_Record):
        """ETP 1.2 message 1 of protocol 2424, sent by customer."""

        uris: dict[str, str]
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
        ) -> None: ...

    class GetDataspaceInfoResponse(_Record):
        """ETP 1.2 message 2 of protocol 2424, sent by store."""

        dataspaces: dict[str, datatypes.Object.Dataspace]
        def __init__(
            self,
            *,
            dataspaces: _Mapping[str, datatypes.Object.Dataspace | _Mapping[str, _Any]],
        ) -> None: ...

    class CopyDataspacesContent(_Record):
        """ETP 1.2 message 3 of protocol 2424, sent by customer."""

        dataspaces: dict[str, str]
        target_dataspace: str
        def __init__(
            self,
            *,
            dataspaces: _Mapping[str, str],
            target_dataspace: str,
        ) -> None: ...

    class CopyDataspacesContentResponse(_Record):
        """ETP 1.2 message 4 of protocol 2424, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class LockDataspaces(_Record):
        """ETP 1.2 message 5 of protocol 2424, sent by customer."""

        uris: dict[str, str]
        lock: bool
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
            lock: bool,
        ) -> None: ...

    class LockDataspacesResponse(_Record):
        """ETP 1.2 message 6 of protocol 2424, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...

    class CopyToDataspace(_Record):
        """ETP 1.2 message 7 of protocol 2424, sent by customer."""

        uris: dict[str, str]
        dataspace_uri: str
        def __init__(
            self,
            *,
            uris: _Mapping[str, str],
            dataspace_uri: str,
        ) -> None: ...

    class CopyToDataspaceResponse(_Record):
        """ETP 1.2 message 8 of protocol 2424, sent by store."""

        success: dict[str, str]
        def __init__(
            self,
            *,
            success: _Mapping[str, str],
        ) -> None: ...
