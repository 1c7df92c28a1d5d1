"""Types of ``etp_sync.schema.datatypes`` for type checkers and editors.

Generated from the schema model by ``python -m etp_sync.schema._stubgen``; do not
edit.
"""

from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import Any as _Any
from uuid import UUID as _UUID

import numpy as _np
from numpy.typing import ArrayLike as _ArrayLike
from numpy.typing import NDArray as _NDArray

from etp_sync.schema._model import ETPEnum as _ETPEnum
from etp_sync.schema._model import Record as _Record

class AnyArrayType(_ETPEnum):
    """ETP 1.2 enum ``AnyArrayType`` (symbols in wire order)."""

    arrayOfBoolean = "arrayOfBoolean"
    arrayOfInt = "arrayOfInt"
    arrayOfLong = "arrayOfLong"
    arrayOfFloat = "arrayOfFloat"
    arrayOfDouble = "arrayOfDouble"
    arrayOfString = "arrayOfString"
    bytes = "bytes"

class AnyLogicalArrayType(_ETPEnum):
    """ETP 1.2 enum ``AnyLogicalArrayType`` (symbols in wire order)."""

    arrayOfBoolean = "arrayOfBoolean"
    arrayOfInt8 = "arrayOfInt8"
    arrayOfUInt8 = "arrayOfUInt8"
    arrayOfInt16LE = "arrayOfInt16LE"
    arrayOfInt32LE = "arrayOfInt32LE"
    arrayOfInt64LE = "arrayOfInt64LE"
    arrayOfUInt16LE = "arrayOfUInt16LE"
    arrayOfUInt32LE = "arrayOfUInt32LE"
    arrayOfUInt64LE = "arrayOfUInt64LE"
    arrayOfFloat32LE = "arrayOfFloat32LE"
    arrayOfDouble64LE = "arrayOfDouble64LE"
    arrayOfInt16BE = "arrayOfInt16BE"
    arrayOfInt32BE = "arrayOfInt32BE"
    arrayOfInt64BE = "arrayOfInt64BE"
    arrayOfUInt16BE = "arrayOfUInt16BE"
    arrayOfUInt32BE = "arrayOfUInt32BE"
    arrayOfUInt64BE = "arrayOfUInt64BE"
    arrayOfFloat32BE = "arrayOfFloat32BE"
    arrayOfDouble64BE = "arrayOfDouble64BE"
    arrayOfString = "arrayOfString"
    arrayOfCustom = "arrayOfCustom"

class ArrayOfBoolean(_Record):
    """ETP 1.2 record ``ArrayOfBoolean``."""

    values: _NDArray[_np.bool_]
    def __init__(
        self,
        *,
        values: _ArrayLike,
    ) -> None: ...

class ArrayOfBytes(_Record):
    """ETP 1.2 record ``ArrayOfBytes``."""

    values: list[bytes]
    def __init__(
        self,
        *,
        values: _Iterable[bytes],
    ) -> None: ...

class ArrayOfDouble(_Record):
    """ETP 1.2 record ``ArrayOfDouble``."""

    values: _NDArray[_np.float64]
    def __init__(
        self,
        *,
        values: _ArrayLike,
    ) -> None: ...

class ArrayOfFloat(_Record):
    """ETP 1.2 record ``ArrayOfFloat``."""

    values: _NDArray[_np.float32]
    def __init__(
        self,
        *,
        values: _ArrayLike,
    ) -> None: ...

class ArrayOfInt(_Record):
    """ETP 1.2 record ``ArrayOfInt``."""

    values: _NDArray[_np.int32]
    def __init__(
        self,
        *,
        values: _ArrayLike,
    ) -> None: ...

class ArrayOfLong(_Record):
    """ETP 1.2 record ``ArrayOfLong``."""

    values: _NDArray[_np.int64]
    def __init__(
        self,
        *,
        values: _ArrayLike,
    ) -> None: ...

class ArrayOfNullableBoolean(_Record):
    """ETP 1.2 record ``ArrayOfNullableBoolean``."""

    values: list[bool | None]
    def __init__(
        self,
        *,
        values: _Iterable[bool | None],
    ) -> None: ...

class ArrayOfNullableInt(_Record):
    """ETP 1.2 record ``ArrayOfNullableInt``."""

    values: list[int | None]
    def __init__(
        self,
        *,
        values: _Iterable[int | None],
    ) -> None: ...

class ArrayOfNullableLong(_Record):
    """ETP 1.2 record ``ArrayOfNullableLong``."""

    values: list[int | None]
    def __init__(
        self,
        *,
        values: _Iterable[int | None],
    ) -> None: ...

class ArrayOfString(_Record):
    """ETP 1.2 record ``ArrayOfString``."""

    values: list[str]
    def __init__(
        self,
        *,
        values: _Iterable[str],
    ) -> None: ...

class AnyArray(_Record):
    """ETP 1.2 record ``AnyArray``."""

    item: (
        ArrayOfBoolean
        | ArrayOfInt
        | ArrayOfLong
        | ArrayOfFloat
        | ArrayOfDouble
        | ArrayOfString
        | bytes
    )
    def __init__(
        self,
        *,
        item: ArrayOfBoolean
        | ArrayOfInt
        | ArrayOfLong
        | ArrayOfFloat
        | ArrayOfDouble
        | ArrayOfString
        | bytes
        | bytearray
        | memoryview
        | _NDArray[_Any],
    ) -> None: ...

class AnySubarray(_Record):
    """ETP 1.2 record ``AnySubarray``."""

    start: int
    slice: AnyArray
    def __init__(
        self,
        *,
        start: int,
        slice: AnyArray | _Mapping[str, _Any],
    ) -> None: ...

class AnySparseArray(_Record):
    """ETP 1.2 record ``AnySparseArray``."""

    slices: list[AnySubarray]
    def __init__(
        self,
        *,
        slices: _Iterable[AnySubarray | _Mapping[str, _Any]],
    ) -> None: ...

class Contact(_Record):
    """ETP 1.2 record ``Contact``."""

    organization_name: str
    contact_name: str
    contact_phone: str
    contact_email: str
    def __init__(
        self,
        *,
        organization_name: str = ...,
        contact_name: str = ...,
        contact_phone: str = ...,
        contact_email: str = ...,
    ) -> None: ...

class DataObjectCapabilityKind(_ETPEnum):
    """ETP 1.2 enum ``DataObjectCapabilityKind`` (symbols in wire order)."""

    ActiveTimeoutPeriod = "ActiveTimeoutPeriod"
    MaxContainedDataObjectCount = "MaxContainedDataObjectCount"
    MaxDataObjectSize = "MaxDataObjectSize"
    OrphanedChildrenPrunedOnDelete = "OrphanedChildrenPrunedOnDelete"
    SupportsGet = "SupportsGet"
    SupportsPut = "SupportsPut"
    SupportsDelete = "SupportsDelete"
    MaxSecondaryIndexCount = "MaxSecondaryIndexCount"

class DataValue(_Record):
    """ETP 1.2 record ``DataValue``."""

    item: (
        bool
        | int
        | float
        | str
        | ArrayOfBoolean
        | ArrayOfNullableBoolean
        | ArrayOfInt
        | ArrayOfNullableInt
        | ArrayOfLong
        | ArrayOfNullableLong
        | ArrayOfFloat
        | ArrayOfDouble
        | ArrayOfString
        | ArrayOfBytes
        | bytes
        | AnySparseArray
        | None
    )
    def __init__(
        self,
        *,
        item: bool
        | int
        | float
        | str
        | ArrayOfBoolean
        | ArrayOfNullableBoolean
        | ArrayOfInt
        | ArrayOfNullableInt
        | ArrayOfLong
        | ArrayOfNullableLong
        | ArrayOfFloat
        | ArrayOfDouble
        | ArrayOfString
        | ArrayOfBytes
        | bytes
        | AnySparseArray
        | bytearray
        | memoryview
        | _NDArray[_Any]
        | None = ...,
    ) -> None: ...

class DataAttribute(_Record):
    """ETP 1.2 record ``DataAttribute``."""

    attribute_id: int
    attribute_value: DataValue
    def __init__(
        self,
        *,
        attribute_id: int,
        attribute_value: DataValue | _Mapping[str, _Any],
    ) -> None: ...

class EndpointCapabilityKind(_ETPEnum):
    """ETP 1.2 enum ``EndpointCapabilityKind`` (symbols in wire order)."""

    ActiveTimeoutPeriod = "ActiveTimeoutPeriod"
    AuthorizationDetails = "AuthorizationDetails"
    ChangePropagationPeriod = "ChangePropagationPeriod"
    ChangeRetentionPeriod = "ChangeRetentionPeriod"
    MaxConcurrentMultipart = "MaxConcurrentMultipart"
    MaxDataObjectSize = "MaxDataObjectSize"
    MaxPartSize = "MaxPartSize"
    MaxSessionClientCount = "MaxSessionClientCount"
    MaxSessionGlobalCount = "MaxSessionGlobalCount"
    MaxWebSocketFramePayloadSize = "MaxWebSocketFramePayloadSize"
    MaxWebSocketMessagePayloadSize = "MaxWebSocketMessagePayloadSize"
    MultipartMessageTimeoutPeriod = "MultipartMessageTimeoutPeriod"
    ResponseTimeoutPeriod = "ResponseTimeoutPeriod"
    RequestSessionTimeoutPeriod = "RequestSessionTimeoutPeriod"
    SessionEstablishmentTimeoutPeriod = "SessionEstablishmentTimeoutPeriod"
    SupportsAlternateRequestUris = "SupportsAlternateRequestUris"
    SupportsMessageHeaderExtensions = "SupportsMessageHeaderExtensions"

class MessageHeader(_Record):
    """ETP 1.2 record ``MessageHeader``."""

    protocol: int
    message_type: int
    correlation_id: int
    message_id: int
    message_flags: int
    def __init__(
        self,
        *,
        protocol: int,
        message_type: int,
        correlation_id: int,
        message_id: int,
        message_flags: int,
    ) -> None: ...

class ErrorInfo(_Record):
    """ETP 1.2 record ``ErrorInfo``."""

    message: str
    code: int
    def __init__(
        self,
        *,
        message: str,
        code: int,
    ) -> None: ...

class MessageHeaderExtension(_Record):
    """ETP 1.2 record ``MessageHeaderExtension``."""

    extension: dict[str, DataValue]
    def __init__(
        self,
        *,
        extension: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
    ) -> None: ...

class Protocol(_ETPEnum):
    """ETP 1.2 enum ``Protocol`` (symbols in wire order)."""

    Core = "Core"
    ChannelStreaming = "ChannelStreaming"
    ChannelDataFrame = "ChannelDataFrame"
    Discovery = "Discovery"
    Store = "Store"
    StoreNotification = "StoreNotification"
    GrowingObject = "GrowingObject"
    GrowingObjectNotification = "GrowingObjectNotification"
    DEPRECATED_8 = "DEPRECATED_8"
    DataArray = "DataArray"
    RESERVED_10 = "RESERVED_10"
    RESERVED_11 = "RESERVED_11"
    RESERVED_12 = "RESERVED_12"
    DiscoveryQuery = "DiscoveryQuery"
    StoreQuery = "StoreQuery"
    RESERVED_15 = "RESERVED_15"
    GrowingObjectQuery = "GrowingObjectQuery"
    RESERVED_17 = "RESERVED_17"
    Transaction = "Transaction"
    RESERVED_19 = "RESERVED_19"
    RESERVED_20 = "RESERVED_20"
    ChannelSubscribe = "ChannelSubscribe"
    ChannelDataLoad = "ChannelDataLoad"
    RESERVED_23 = "RESERVED_23"
    Dataspace = "Dataspace"
    SupportedTypes = "SupportedTypes"

class ProtocolCapabilityKind(_ETPEnum):
    """ETP 1.2 enum ``ProtocolCapabilityKind`` (symbols in wire order)."""

    FrameChangeDetectionPeriod = "FrameChangeDetectionPeriod"
    MaxDataArraySize = "MaxDataArraySize"
    MaxDataObjectSize = "MaxDataObjectSize"
    MaxFrameResponseRowCount = "MaxFrameResponseRowCount"
    MaxIndexCount = "MaxIndexCount"
    MaxRangeChannelCount = "MaxRangeChannelCount"
    MaxRangeDataItemCount = "MaxRangeDataItemCount"
    MaxResponseCount = "MaxResponseCount"
    MaxStreamingChannelsSessionCount = "MaxStreamingChannelsSessionCount"
    MaxSubscriptionSessionCount = "MaxSubscriptionSessionCount"
    MaxTransactionCount = "MaxTransactionCount"
    SupportsSecondaryIndexFiltering = "SupportsSecondaryIndexFiltering"
    TransactionTimeoutPeriod = "TransactionTimeoutPeriod"

class SupportedDataObject(_Record):
    """ETP 1.2 record ``SupportedDataObject``."""

    qualified_type: str
    data_object_capabilities: dict[str, DataValue]
    def __init__(
        self,
        *,
        qualified_type: str,
        data_object_capabilities: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
    ) -> None: ...

class Version(_Record):
    """ETP 1.2 record ``Version``."""

    major: int
    minor: int
    revision: int
    patch: int
    def __init__(
        self,
        *,
        major: int = ...,
        minor: int = ...,
        revision: int = ...,
        patch: int = ...,
    ) -> None: ...

class SupportedProtocol(_Record):
    """ETP 1.2 record ``SupportedProtocol``."""

    protocol: int
    protocol_version: Version
    role: str
    protocol_capabilities: dict[str, DataValue]
    def __init__(
        self,
        *,
        protocol: int,
        protocol_version: Version | _Mapping[str, _Any],
        role: str,
        protocol_capabilities: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
    ) -> None: ...

class ServerCapabilities(_Record):
    """ETP 1.2 record ``ServerCapabilities``."""

    application_name: str
    application_version: str
    contact_information: Contact
    supported_compression: list[str]
    supported_encodings: list[str]
    supported_formats: list[str]
    supported_data_objects: list[SupportedDataObject]
    supported_protocols: list[SupportedProtocol]
    endpoint_capabilities: dict[str, DataValue]
    def __init__(
        self,
        *,
        application_name: str,
        application_version: str,
        contact_information: Contact | _Mapping[str, _Any],
        supported_compression: _Iterable[str] = ...,
        supported_encodings: _Iterable[str] = ...,
        supported_formats: _Iterable[str] = ...,
        supported_data_objects: _Iterable[SupportedDataObject | _Mapping[str, _Any]],
        supported_protocols: _Iterable[SupportedProtocol | _Mapping[str, _Any]],
        endpoint_capabilities: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
    ) -> None: ...

class ChannelData:
    class ChannelChangeRequestInfo(_Record):
        """ETP 1.2 record ``ChannelData.ChannelChangeRequestInfo``."""

        since_change_time: int
        channel_ids: list[int]
        def __init__(
            self,
            *,
            since_change_time: int,
            channel_ids: _Iterable[int],
        ) -> None: ...

    class ChannelDataKind(_ETPEnum):
        """ETP 1.2 enum ``ChannelData.ChannelDataKind`` (symbols in wire order)."""

        DateTime = "DateTime"
        ElapsedTime = "ElapsedTime"
        MeasuredDepth = "MeasuredDepth"
        PassIndexedDepth = "PassIndexedDepth"
        TrueVerticalDepth = "TrueVerticalDepth"
        typeBoolean = "typeBoolean"
        typeInt = "typeInt"
        typeLong = "typeLong"
        typeFloat = "typeFloat"
        typeDouble = "typeDouble"
        typeString = "typeString"
        typeBytes = "typeBytes"

    class ChannelIndexKind(_ETPEnum):
        """ETP 1.2 enum ``ChannelData.ChannelIndexKind`` (symbols in wire order)."""

        DateTime = "DateTime"
        ElapsedTime = "ElapsedTime"
        MeasuredDepth = "MeasuredDepth"
        TrueVerticalDepth = "TrueVerticalDepth"
        PassIndexedDepth = "PassIndexedDepth"
        Pressure = "Pressure"
        Temperature = "Temperature"
        Scalar = "Scalar"

    class FramePoint(_Record):
        """ETP 1.2 record ``ChannelData.FramePoint``."""

        value: DataValue
        value_attributes: list[DataAttribute]
        def __init__(
            self,
            *,
            value: DataValue | _Mapping[str, _Any],
            value_attributes: _Iterable[DataAttribute | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class IndexDirection(_ETPEnum):
        """ETP 1.2 enum ``ChannelData.IndexDirection`` (symbols in wire order)."""

        Increasing = "Increasing"
        Decreasing = "Decreasing"
        Unordered = "Unordered"

    class PassDirection(_ETPEnum):
        """ETP 1.2 enum ``ChannelData.PassDirection`` (symbols in wire order)."""

        Up = "Up"
        HoldingSteady = "HoldingSteady"
        Down = "Down"

    class PassIndexedDepth(_Record):
        """ETP 1.2 record ``ChannelData.PassIndexedDepth``."""

        pass_: int
        direction: ChannelData.PassDirection
        depth: float
        def __init__(
            self,
            *,
            pass_: int,
            direction: ChannelData.PassDirection | str | int,
            depth: float,
        ) -> None: ...

    class ChannelSubscribeInfo(_Record):
        """ETP 1.2 record ``ChannelData.ChannelSubscribeInfo``."""

        channel_id: int
        start_index: IndexValue
        data_changes: bool
        request_latest_index_count: int | None
        def __init__(
            self,
            *,
            channel_id: int,
            start_index: IndexValue | _Mapping[str, _Any],
            data_changes: bool = ...,
            request_latest_index_count: int | None = ...,
        ) -> None: ...

    class DataItem(_Record):
        """ETP 1.2 record ``ChannelData.DataItem``."""

        channel_id: int
        indexes: list[IndexValue]
        value: DataValue
        value_attributes: list[DataAttribute]
        def __init__(
            self,
            *,
            channel_id: int,
            indexes: _Iterable[IndexValue | _Mapping[str, _Any]],
            value: DataValue | _Mapping[str, _Any],
            value_attributes: _Iterable[DataAttribute | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class FrameRow(_Record):
        """ETP 1.2 record ``ChannelData.FrameRow``."""

        indexes: list[IndexValue]
        points: list[ChannelData.FramePoint]
        def __init__(
            self,
            *,
            indexes: _Iterable[IndexValue | _Mapping[str, _Any]],
            points: _Iterable[ChannelData.FramePoint | _Mapping[str, _Any]],
        ) -> None: ...

    class TruncateInfo(_Record):
        """ETP 1.2 record ``ChannelData.TruncateInfo``."""

        channel_id: int
        new_end_index: IndexValue
        def __init__(
            self,
            *,
            channel_id: int,
            new_end_index: IndexValue | _Mapping[str, _Any],
        ) -> None: ...

    class FrameChannelMetadataRecord(_Record):
        """ETP 1.2 record ``ChannelData.FrameChannelMetadataRecord``."""

        uri: str
        channel_name: str
        data_kind: ChannelData.ChannelDataKind
        uom: str
        depth_datum: str
        channel_property_kind_uri: str
        status: Object.ActiveStatusKind
        source: str
        axis_vector_lengths: list[int]
        attribute_metadata: list[AttributeMetadataRecord]
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            channel_name: str,
            data_kind: ChannelData.ChannelDataKind | str | int,
            uom: str,
            depth_datum: str,
            channel_property_kind_uri: str,
            status: Object.ActiveStatusKind | str | int,
            source: str,
            axis_vector_lengths: _Iterable[int],
            attribute_metadata: _Iterable[AttributeMetadataRecord | _Mapping[str, _Any]] = ...,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class ChannelRangeInfo(_Record):
        """ETP 1.2 record ``ChannelData.ChannelRangeInfo``."""

        channel_ids: list[int]
        interval: Object.IndexInterval
        secondary_intervals: list[Object.IndexInterval]
        def __init__(
            self,
            *,
            channel_ids: _Iterable[int],
            interval: Object.IndexInterval | _Mapping[str, _Any],
            secondary_intervals: _Iterable[Object.IndexInterval | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class IndexMetadataRecord(_Record):
        """ETP 1.2 record ``ChannelData.IndexMetadataRecord``."""

        index_kind: ChannelData.ChannelIndexKind
        interval: Object.IndexInterval
        direction: ChannelData.IndexDirection
        name: str
        uom: str
        depth_datum: str
        index_property_kind_uri: str
        filterable: bool
        def __init__(
            self,
            *,
            index_kind: ChannelData.ChannelIndexKind | str | int = ...,
            interval: Object.IndexInterval | _Mapping[str, _Any],
            direction: ChannelData.IndexDirection | str | int = ...,
            name: str = ...,
            uom: str,
            depth_datum: str = ...,
            index_property_kind_uri: str,
            filterable: bool = ...,
        ) -> None: ...

    class ChannelMetadataRecord(_Record):
        """ETP 1.2 record ``ChannelData.ChannelMetadataRecord``."""

        uri: str
        id: int
        indexes: list[ChannelData.IndexMetadataRecord]
        channel_name: str
        data_kind: ChannelData.ChannelDataKind
        uom: str
        depth_datum: str
        channel_class_uri: str
        status: Object.ActiveStatusKind
        source: str
        axis_vector_lengths: list[int]
        attribute_metadata: list[AttributeMetadataRecord]
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            id: int,
            indexes: _Iterable[ChannelData.IndexMetadataRecord | _Mapping[str, _Any]],
            channel_name: str,
            data_kind: ChannelData.ChannelDataKind | str | int,
            uom: str,
            depth_datum: str,
            channel_class_uri: str,
            status: Object.ActiveStatusKind | str | int,
            source: str,
            axis_vector_lengths: _Iterable[int],
            attribute_metadata: _Iterable[AttributeMetadataRecord | _Mapping[str, _Any]] = ...,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class OpenChannelInfo(_Record):
        """ETP 1.2 record ``ChannelData.OpenChannelInfo``."""

        metadata: ChannelData.ChannelMetadataRecord
        prefer_realtime: bool
        data_changes: bool
        def __init__(
            self,
            *,
            metadata: ChannelData.ChannelMetadataRecord | _Mapping[str, _Any],
            prefer_realtime: bool = ...,
            data_changes: bool = ...,
        ) -> None: ...

class AttributeMetadataRecord(_Record):
    """ETP 1.2 record ``AttributeMetadataRecord``."""

    attribute_id: int
    attribute_name: str
    data_kind: ChannelData.ChannelDataKind
    uom: str
    depth_datum: str
    attribute_property_kind_uri: str
    axis_vector_lengths: list[int]
    def __init__(
        self,
        *,
        attribute_id: int,
        attribute_name: str,
        data_kind: ChannelData.ChannelDataKind | str | int,
        uom: str,
        depth_datum: str,
        attribute_property_kind_uri: str,
        axis_vector_lengths: _Iterable[int],
    ) -> None: ...

class IndexValue(_Record):
    """ETP 1.2 record ``IndexValue``."""

    item: int | float | ChannelData.PassIndexedDepth | None
    def __init__(
        self,
        *,
        item: int | float | ChannelData.PassIndexedDepth | _Mapping[str, _Any] | None = ...,
    ) -> None: ...

class DataArrayTypes:
    class DataArray(_Record):
        """ETP 1.2 record ``DataArrayTypes.DataArray``."""

        dimensions: list[int]
        data: AnyArray
        def __init__(
            self,
            *,
            dimensions: _Iterable[int],
            data: AnyArray | _Mapping[str, _Any],
        ) -> None: ...

    class DataArrayIdentifier(_Record):
        """ETP 1.2 record ``DataArrayTypes.DataArrayIdentifier``."""

        uri: str
        path_in_resource: str
        def __init__(
            self,
            *,
            uri: str,
            path_in_resource: str,
        ) -> None: ...

    class GetDataSubarraysType(_Record):
        """ETP 1.2 record ``DataArrayTypes.GetDataSubarraysType``."""

        uid: DataArrayTypes.DataArrayIdentifier
        starts: list[int]
        counts: list[int]
        def __init__(
            self,
            *,
            uid: DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any],
            starts: _Iterable[int] = ...,
            counts: _Iterable[int] = ...,
        ) -> None: ...

    class DataArrayMetadata(_Record):
        """ETP 1.2 record ``DataArrayTypes.DataArrayMetadata``."""

        dimensions: list[int]
        preferred_subarray_dimensions: list[int]
        transport_array_type: AnyArrayType
        logical_array_type: AnyLogicalArrayType
        store_last_write: int
        store_created: int
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            dimensions: _Iterable[int],
            preferred_subarray_dimensions: _Iterable[int] = ...,
            transport_array_type: AnyArrayType | str | int,
            logical_array_type: AnyLogicalArrayType | str | int,
            store_last_write: int,
            store_created: int,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class PutDataArraysType(_Record):
        """ETP 1.2 record ``DataArrayTypes.PutDataArraysType``."""

        uid: DataArrayTypes.DataArrayIdentifier
        array: DataArrayTypes.DataArray
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uid: DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any],
            array: DataArrayTypes.DataArray | _Mapping[str, _Any],
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class PutDataSubarraysType(_Record):
        """ETP 1.2 record ``DataArrayTypes.PutDataSubarraysType``."""

        uid: DataArrayTypes.DataArrayIdentifier
        data: AnyArray
        starts: list[int]
        counts: list[int]
        def __init__(
            self,
            *,
            uid: DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any],
            data: AnyArray | _Mapping[str, _Any],
            starts: _Iterable[int],
            counts: _Iterable[int],
        ) -> None: ...

    class PutUninitializedDataArrayType(_Record):
        """ETP 1.2 record ``DataArrayTypes.PutUninitializedDataArrayType``."""

        uid: DataArrayTypes.DataArrayIdentifier
        metadata: DataArrayTypes.DataArrayMetadata
        def __init__(
            self,
            *,
            uid: DataArrayTypes.DataArrayIdentifier | _Mapping[str, _Any],
            metadata: DataArrayTypes.DataArrayMetadata | _Mapping[str, _Any],
        ) -> None: ...

class Object:
    class ActiveStatusKind(_ETPEnum):
        """ETP 1.2 enum ``Object.ActiveStatusKind`` (symbols in wire order)."""

        Active = "Active"
        Inactive = "Inactive"

    class ContextScopeKind(_ETPEnum):
        """ETP 1.2 enum ``Object.ContextScopeKind`` (symbols in wire order)."""

        self = "self"
        sources = "sources"
        targets = "targets"
        sourcesOrSelf = "sourcesOrSelf"
        targetsOrSelf = "targetsOrSelf"

    class Dataspace(_Record):
        """ETP 1.2 record ``Object.Dataspace``."""

        uri: str
        path: str
        store_last_write: int
        store_created: int
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            path: str = ...,
            store_last_write: int,
            store_created: int,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class DeletedResource(_Record):
        """ETP 1.2 record ``Object.DeletedResource``."""

        uri: str
        deleted_time: int
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            deleted_time: int,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class IndexInterval(_Record):
        """ETP 1.2 record ``Object.IndexInterval``."""

        start_index: IndexValue
        end_index: IndexValue
        uom: str
        depth_datum: str
        def __init__(
            self,
            *,
            start_index: IndexValue | _Mapping[str, _Any],
            end_index: IndexValue | _Mapping[str, _Any],
            uom: str,
            depth_datum: str = ...,
        ) -> None: ...

    class ChangeAnnotation(_Record):
        """ETP 1.2 record ``Object.ChangeAnnotation``."""

        change_time: int
        interval: Object.IndexInterval
        def __init__(
            self,
            *,
            change_time: int,
            interval: Object.IndexInterval | _Mapping[str, _Any],
        ) -> None: ...

    class ChangeResponseInfo(_Record):
        """ETP 1.2 record ``Object.ChangeResponseInfo``."""

        response_timestamp: int
        changes: dict[str, list[Object.ChangeAnnotation]]
        def __init__(
            self,
            *,
            response_timestamp: int,
            changes: _Mapping[str, _Iterable[Object.ChangeAnnotation | _Mapping[str, _Any]]],
        ) -> None: ...

    class ObjectChangeKind(_ETPEnum):
        """ETP 1.2 enum ``Object.ObjectChangeKind`` (symbols in wire order)."""

        insert = "insert"
        update = "update"
        authorized = "authorized"
        joined = "joined"
        unjoined = "unjoined"
        joinedSubscription = "joinedSubscription"
        unjoinedSubscription = "unjoinedSubscription"

    class ObjectPart(_Record):
        """ETP 1.2 record ``Object.ObjectPart``."""

        uid: str
        data: bytes
        def __init__(
            self,
            *,
            uid: str,
            data: bytes,
        ) -> None: ...

    class PartsMetadataInfo(_Record):
        """ETP 1.2 record ``Object.PartsMetadataInfo``."""

        uri: str
        name: str
        index: ChannelData.IndexMetadataRecord
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            name: str,
            index: ChannelData.IndexMetadataRecord | _Mapping[str, _Any],
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class PutResponse(_Record):
        """ETP 1.2 record ``Object.PutResponse``."""

        created_contained_object_uris: list[str]
        deleted_contained_object_uris: list[str]
        joined_contained_object_uris: list[str]
        unjoined_contained_object_uris: list[str]
        def __init__(
            self,
            *,
            created_contained_object_uris: _Iterable[str] = ...,
            deleted_contained_object_uris: _Iterable[str] = ...,
            joined_contained_object_uris: _Iterable[str] = ...,
            unjoined_contained_object_uris: _Iterable[str] = ...,
        ) -> None: ...

    class RelationshipKind(_ETPEnum):
        """ETP 1.2 enum ``Object.RelationshipKind`` (symbols in wire order)."""

        Primary = "Primary"
        Secondary = "Secondary"
        Both = "Both"

    class ContextInfo(_Record):
        """ETP 1.2 record ``Object.ContextInfo``."""

        uri: str
        depth: int
        data_object_types: list[str]
        navigable_edges: Object.RelationshipKind
        include_secondary_targets: bool
        include_secondary_sources: bool
        def __init__(
            self,
            *,
            uri: str,
            depth: int,
            data_object_types: _Iterable[str] = ...,
            navigable_edges: Object.RelationshipKind | str | int,
            include_secondary_targets: bool = ...,
            include_secondary_sources: bool = ...,
        ) -> None: ...

    class Edge(_Record):
        """ETP 1.2 record ``Object.Edge``."""

        source_uri: str
        target_uri: str
        relationship_kind: Object.RelationshipKind
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            source_uri: str,
            target_uri: str,
            relationship_kind: Object.RelationshipKind | str | int,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class Resource(_Record):
        """ETP 1.2 record ``Object.Resource``."""

        uri: str
        alternate_uris: list[str]
        name: str
        source_count: int | None
        target_count: int | None
        last_changed: int
        store_last_write: int
        store_created: int
        active_status: Object.ActiveStatusKind
        custom_data: dict[str, DataValue]
        def __init__(
            self,
            *,
            uri: str,
            alternate_uris: _Iterable[str] = ...,
            name: str,
            source_count: int | None = ...,
            target_count: int | None = ...,
            last_changed: int,
            store_last_write: int,
            store_created: int,
            active_status: Object.ActiveStatusKind | str | int,
            custom_data: _Mapping[str, DataValue | _Mapping[str, _Any]] = ...,
        ) -> None: ...

    class DataObject(_Record):
        """ETP 1.2 record ``Object.DataObject``."""

        resource: Object.Resource
        format: str
        blob_id: _UUID | None
        data: bytes
        def __init__(
            self,
            *,
            resource: Object.Resource | _Mapping[str, _Any],
            format: str = ...,
            blob_id: _UUID | str | bytes | None = ...,
            data: bytes = ...,
        ) -> None: ...

    class ObjectChange(_Record):
        """ETP 1.2 record ``Object.ObjectChange``."""

        change_kind: Object.ObjectChangeKind
        change_time: int
        data_object: Object.DataObject
        def __init__(
            self,
            *,
            change_kind: Object.ObjectChangeKind | str | int,
            change_time: int,
            data_object: Object.DataObject | _Mapping[str, _Any],
        ) -> None: ...

    class SubscriptionInfo(_Record):
        """ETP 1.2 record ``Object.SubscriptionInfo``."""

        context: Object.ContextInfo
        scope: Object.ContextScopeKind
        request_uuid: _UUID
        include_object_data: bool
        format: str
        def __init__(
            self,
            *,
            context: Object.ContextInfo | _Mapping[str, _Any],
            scope: Object.ContextScopeKind | str | int,
            request_uuid: _UUID | str | bytes,
            include_object_data: bool,
            format: str = ...,
        ) -> None: ...

    class SupportedType(_Record):
        """ETP 1.2 record ``Object.SupportedType``."""

        data_object_type: str
        object_count: int | None
        relationship_kind: Object.RelationshipKind
        def __init__(
            self,
            *,
            data_object_type: str,
            object_count: int | None = ...,
            relationship_kind: Object.RelationshipKind | str | int,
        ) -> None: ...
