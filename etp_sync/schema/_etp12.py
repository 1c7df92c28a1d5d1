"""ETP 1.2 in our own compact declaration form: every type and message, plus the OSDU extensions.

Grammar (parsed once by :mod:`etp_sync.schema._parse`):

- ``enum Name`` followed by indented, comma-separated symbols in wire order.
- ``fixed Name SIZE``.
- ``record Name`` followed by one indented ``field: type [= default]`` line per field, in wire
  order.
  A line starting with ``|`` continues the previous field's union.
- ``protocol NUMBER Name (roles) [private]`` opens a protocol (``private`` puts it in the
  ``PrivateProtocols`` namespace); ``message TYPE Name (sender[, multipart])`` declares one of
  its messages, its fields following like a record's.

Types: ``null boolean int long float double bytes string``, ``array<T>``, ``map<T>`` (string keys),
unions ``A | B`` in branch order, and declared names. Data types live in
``Energistics.Etp.v12.Datatypes`` (``Object.Resource`` means
``Energistics.Etp.v12.Datatypes.Object.Resource``); messages in
``Energistics.Etp.v12.Protocol.<protocol name>``. Defaults are JSON values.
"""

DECLARATIONS = """
enum AnyArrayType
    arrayOfBoolean, arrayOfInt, arrayOfLong, arrayOfFloat, arrayOfDouble, arrayOfString, bytes
enum AnyLogicalArrayType
    arrayOfBoolean, arrayOfInt8, arrayOfUInt8, arrayOfInt16LE, arrayOfInt32LE, arrayOfInt64LE,
    arrayOfUInt16LE, arrayOfUInt32LE, arrayOfUInt64LE, arrayOfFloat32LE, arrayOfDouble64LE,
    arrayOfInt16BE, arrayOfInt32BE, arrayOfInt64BE, arrayOfUInt16BE, arrayOfUInt32BE,
    arrayOfUInt64BE, arrayOfFloat32BE, arrayOfDouble64BE, arrayOfString, arrayOfCustom
record ArrayOfBoolean
    values: array<boolean>
record ArrayOfBytes
    values: array<bytes>
record ArrayOfDouble
    values: array<double>
record ArrayOfFloat
    values: array<float>
record ArrayOfInt
    values: array<int>
record ArrayOfLong
    values: array<long>
record ArrayOfNullableBoolean
    values: array<null | boolean>
record ArrayOfNullableInt
    values: array<null | int>
record ArrayOfNullableLong
    values: array<null | long>
record ArrayOfString
    values: array<string>
record AnyArray
    item: ArrayOfBoolean | ArrayOfInt | ArrayOfLong | ArrayOfFloat | ArrayOfDouble
        | ArrayOfString | bytes
record AnySubarray
    start: long
    slice: AnyArray
record AnySparseArray
    slices: array<AnySubarray>
record Contact
    organizationName: string = ""
    contactName: string = ""
    contactPhone: string = ""
    contactEmail: string = ""
enum DataObjectCapabilityKind
    ActiveTimeoutPeriod, MaxContainedDataObjectCount, MaxDataObjectSize,
    OrphanedChildrenPrunedOnDelete, SupportsGet, SupportsPut, SupportsDelete,
    MaxSecondaryIndexCount
record DataValue
    item: null | boolean | int | long | float | double | string
        | ArrayOfBoolean | ArrayOfNullableBoolean | ArrayOfInt | ArrayOfNullableInt
        | ArrayOfLong | ArrayOfNullableLong | ArrayOfFloat | ArrayOfDouble | ArrayOfString
        | ArrayOfBytes | bytes | AnySparseArray
record DataAttribute
    attributeId: int
    attributeValue: DataValue
enum EndpointCapabilityKind
    ActiveTimeoutPeriod, AuthorizationDetails, ChangePropagationPeriod, ChangeRetentionPeriod,
    MaxConcurrentMultipart, MaxDataObjectSize, MaxPartSize, MaxSessionClientCount,
    MaxSessionGlobalCount, MaxWebSocketFramePayloadSize, MaxWebSocketMessagePayloadSize,
    MultipartMessageTimeoutPeriod, ResponseTimeoutPeriod, RequestSessionTimeoutPeriod,
    SessionEstablishmentTimeoutPeriod, SupportsAlternateRequestUris,
    SupportsMessageHeaderExtensions
record MessageHeader
    protocol: int
    messageType: int
    correlationId: long
    messageId: long
    messageFlags: int
record ErrorInfo
    message: string
    code: int
record MessageHeaderExtension
    extension: map<DataValue> = {}
enum Protocol
    Core, ChannelStreaming, ChannelDataFrame, Discovery, Store, StoreNotification,
    GrowingObject, GrowingObjectNotification, DEPRECATED_8, DataArray, RESERVED_10, RESERVED_11,
    RESERVED_12, DiscoveryQuery, StoreQuery, RESERVED_15, GrowingObjectQuery, RESERVED_17,
    Transaction, RESERVED_19, RESERVED_20, ChannelSubscribe, ChannelDataLoad, RESERVED_23,
    Dataspace, SupportedTypes
enum ProtocolCapabilityKind
    FrameChangeDetectionPeriod, MaxDataArraySize, MaxDataObjectSize, MaxFrameResponseRowCount,
    MaxIndexCount, MaxRangeChannelCount, MaxRangeDataItemCount, MaxResponseCount,
    MaxStreamingChannelsSessionCount, MaxSubscriptionSessionCount, MaxTransactionCount,
    SupportsSecondaryIndexFiltering, TransactionTimeoutPeriod
record SupportedDataObject
    qualifiedType: string
    dataObjectCapabilities: map<DataValue> = {}
fixed Uuid 16
record Version
    major: int = 0
    minor: int = 0
    revision: int = 0
    patch: int = 0
record SupportedProtocol
    protocol: int
    protocolVersion: Version
    role: string
    protocolCapabilities: map<DataValue> = {}
record ServerCapabilities
    applicationName: string
    applicationVersion: string
    contactInformation: Contact
    supportedCompression: array<string> = []
    supportedEncodings: array<string> = ["binary"]
    supportedFormats: array<string> = ["xml"]
    supportedDataObjects: array<SupportedDataObject>
    supportedProtocols: array<SupportedProtocol>
    endpointCapabilities: map<DataValue> = {}
record ChannelData.ChannelChangeRequestInfo
    sinceChangeTime: long
    channelIds: array<long>
enum ChannelData.ChannelDataKind
    DateTime, ElapsedTime, MeasuredDepth, PassIndexedDepth, TrueVerticalDepth, typeBoolean,
    typeInt, typeLong, typeFloat, typeDouble, typeString, typeBytes
record AttributeMetadataRecord
    attributeId: int
    attributeName: string
    dataKind: ChannelData.ChannelDataKind
    uom: string
    depthDatum: string
    attributePropertyKindUri: string
    axisVectorLengths: array<int>
enum ChannelData.ChannelIndexKind
    DateTime, ElapsedTime, MeasuredDepth, TrueVerticalDepth, PassIndexedDepth, Pressure,
    Temperature, Scalar
record ChannelData.FramePoint
    value: DataValue
    valueAttributes: array<DataAttribute> = []
enum ChannelData.IndexDirection
    Increasing, Decreasing, Unordered
enum ChannelData.PassDirection
    Up, HoldingSteady, Down
record ChannelData.PassIndexedDepth
    pass: long
    direction: ChannelData.PassDirection
    depth: double
record IndexValue
    item: null | long | double | ChannelData.PassIndexedDepth
record ChannelData.ChannelSubscribeInfo
    channelId: long
    startIndex: IndexValue
    dataChanges: boolean = true
    requestLatestIndexCount: null | int
record ChannelData.DataItem
    channelId: long
    indexes: array<IndexValue>
    value: DataValue
    valueAttributes: array<DataAttribute> = []
record ChannelData.FrameRow
    indexes: array<IndexValue>
    points: array<ChannelData.FramePoint>
record ChannelData.TruncateInfo
    channelId: long
    newEndIndex: IndexValue
record DataArrayTypes.DataArray
    dimensions: array<long>
    data: AnyArray
record DataArrayTypes.DataArrayIdentifier
    uri: string
    pathInResource: string
record DataArrayTypes.GetDataSubarraysType
    uid: DataArrayTypes.DataArrayIdentifier
    starts: array<long> = []
    counts: array<long> = []
record DataArrayTypes.DataArrayMetadata
    dimensions: array<long>
    preferredSubarrayDimensions: array<long> = []
    transportArrayType: AnyArrayType
    logicalArrayType: AnyLogicalArrayType
    storeLastWrite: long
    storeCreated: long
    customData: map<DataValue> = {}
record DataArrayTypes.PutDataArraysType
    uid: DataArrayTypes.DataArrayIdentifier
    array: DataArrayTypes.DataArray
    customData: map<DataValue> = {}
record DataArrayTypes.PutDataSubarraysType
    uid: DataArrayTypes.DataArrayIdentifier
    data: AnyArray
    starts: array<long>
    counts: array<long>
record DataArrayTypes.PutUninitializedDataArrayType
    uid: DataArrayTypes.DataArrayIdentifier
    metadata: DataArrayTypes.DataArrayMetadata
enum Object.ActiveStatusKind
    Active, Inactive
record ChannelData.FrameChannelMetadataRecord
    uri: string
    channelName: string
    dataKind: ChannelData.ChannelDataKind
    uom: string
    depthDatum: string
    channelPropertyKindUri: string
    status: Object.ActiveStatusKind
    source: string
    axisVectorLengths: array<int>
    attributeMetadata: array<AttributeMetadataRecord> = []
    customData: map<DataValue> = {}
enum Object.ContextScopeKind
    self, sources, targets, sourcesOrSelf, targetsOrSelf
record Object.Dataspace
    uri: string
    path: string = ""
    storeLastWrite: long
    storeCreated: long
    customData: map<DataValue> = {}
record Object.DeletedResource
    uri: string
    deletedTime: long
    customData: map<DataValue> = {}
record Object.IndexInterval
    startIndex: IndexValue
    endIndex: IndexValue
    uom: string
    depthDatum: string = ""
record ChannelData.ChannelRangeInfo
    channelIds: array<long>
    interval: Object.IndexInterval
    secondaryIntervals: array<Object.IndexInterval> = []
record ChannelData.IndexMetadataRecord
    indexKind: ChannelData.ChannelIndexKind = "DateTime"
    interval: Object.IndexInterval
    direction: ChannelData.IndexDirection = "Increasing"
    name: string = ""
    uom: string
    depthDatum: string = ""
    indexPropertyKindUri: string
    filterable: boolean = true
record ChannelData.ChannelMetadataRecord
    uri: string
    id: long
    indexes: array<ChannelData.IndexMetadataRecord>
    channelName: string
    dataKind: ChannelData.ChannelDataKind
    uom: string
    depthDatum: string
    channelClassUri: string
    status: Object.ActiveStatusKind
    source: string
    axisVectorLengths: array<int>
    attributeMetadata: array<AttributeMetadataRecord> = []
    customData: map<DataValue> = {}
record ChannelData.OpenChannelInfo
    metadata: ChannelData.ChannelMetadataRecord
    preferRealtime: boolean = true
    dataChanges: boolean = true
record Object.ChangeAnnotation
    changeTime: long
    interval: Object.IndexInterval
record Object.ChangeResponseInfo
    responseTimestamp: long
    changes: map<array<Object.ChangeAnnotation>>
enum Object.ObjectChangeKind
    insert, update, authorized, joined, unjoined, joinedSubscription, unjoinedSubscription
record Object.ObjectPart
    uid: string
    data: bytes
record Object.PartsMetadataInfo
    uri: string
    name: string
    index: ChannelData.IndexMetadataRecord
    customData: map<DataValue> = {}
record Object.PutResponse
    createdContainedObjectUris: array<string> = []
    deletedContainedObjectUris: array<string> = []
    joinedContainedObjectUris: array<string> = []
    unjoinedContainedObjectUris: array<string> = []
enum Object.RelationshipKind
    Primary, Secondary, Both
record Object.ContextInfo
    uri: string
    depth: int
    dataObjectTypes: array<string> = []
    navigableEdges: Object.RelationshipKind
    includeSecondaryTargets: boolean = false
    includeSecondarySources: boolean = false
record Object.Edge
    sourceUri: string
    targetUri: string
    relationshipKind: Object.RelationshipKind
    customData: map<DataValue> = {}
record Object.Resource
    uri: string
    alternateUris: array<string> = []
    name: string
    sourceCount: null | int = null
    targetCount: null | int = null
    lastChanged: long
    storeLastWrite: long
    storeCreated: long
    activeStatus: Object.ActiveStatusKind
    customData: map<DataValue> = {}
record Object.DataObject
    resource: Object.Resource
    format: string = "xml"
    blobId: null | Uuid
    data: bytes = ""
record Object.ObjectChange
    changeKind: Object.ObjectChangeKind
    changeTime: long
    dataObject: Object.DataObject
record Object.SubscriptionInfo
    context: Object.ContextInfo
    scope: Object.ContextScopeKind
    requestUuid: Uuid
    includeObjectData: boolean
    format: string = "xml"
record Object.SupportedType
    dataObjectType: string
    objectCount: null | int
    relationshipKind: Object.RelationshipKind

protocol 0 Core (client, server)
  message 1 RequestSession (client)
      applicationName: string
      applicationVersion: string
      clientInstanceId: Uuid
      requestedProtocols: array<SupportedProtocol>
      supportedDataObjects: array<SupportedDataObject>
      supportedCompression: array<string> = []
      supportedFormats: array<string> = ["xml"]
      currentDateTime: long
      earliestRetainedChangeTime: long
      serverAuthorizationRequired: boolean = false
      endpointCapabilities: map<DataValue> = {}
  message 2 OpenSession (server)
      applicationName: string
      applicationVersion: string
      serverInstanceId: Uuid
      supportedProtocols: array<SupportedProtocol>
      supportedDataObjects: array<SupportedDataObject>
      supportedCompression: string = ""
      supportedFormats: array<string> = ["xml"]
      currentDateTime: long
      earliestRetainedChangeTime: long
      sessionId: Uuid
      endpointCapabilities: map<DataValue> = {}
  message 5 CloseSession (client, server)
      reason: string = ""
  message 6 Authorize (client, server)
      authorization: string
      supplementalAuthorization: map<string>
  message 7 AuthorizeResponse (client, server)
      success: boolean
      challenges: array<string>
  message 8 Ping (client, server)
      currentDateTime: long
  message 9 Pong (client, server)
      currentDateTime: long
  message 1000 ProtocolException (*, multipart)
      error: null | ErrorInfo
      errors: map<ErrorInfo> = {}
  message 1001 Acknowledge (*)

protocol 1 ChannelStreaming (producer, consumer)
  message 1 ChannelMetadata (producer)
      channels: array<ChannelData.ChannelMetadataRecord>
  message 2 ChannelData (producer)
      data: array<ChannelData.DataItem>
  message 3 StartStreaming (consumer)
  message 4 StopStreaming (consumer)
  message 5 TruncateChannels (producer)
      channels: array<ChannelData.TruncateInfo>

protocol 2 ChannelDataFrame (store, customer)
  message 1 GetFrameMetadata (customer)
      uri: string
      includeAllChannelSecondaryIndexes: boolean = false
  message 2 GetFrameMetadataResponse (store, multipart)
      uri: string
      indexes: array<ChannelData.IndexMetadataRecord>
      channels: array<ChannelData.FrameChannelMetadataRecord>
  message 3 GetFrame (customer)
      uri: string
      includeAllChannelSecondaryIndexes: boolean = false
      requestedInterval: Object.IndexInterval
      requestUuid: Uuid
      requestedSecondaryIntervals: array<Object.IndexInterval> = []
  message 4 GetFrameResponseHeader (store, multipart)
      channelUris: array<string>
      indexes: array<ChannelData.IndexMetadataRecord>
  message 5 CancelGetFrame (customer)
      requestUuid: Uuid
  message 6 GetFrameResponseRows (store, multipart)
      frame: array<ChannelData.FrameRow>

protocol 3 Discovery (store, customer)
  message 1 GetResources (customer)
      context: Object.ContextInfo
      scope: Object.ContextScopeKind
      countObjects: boolean = false
      storeLastWriteFilter: null | long
      activeStatusFilter: null | Object.ActiveStatusKind
      includeEdges: boolean = false
  message 4 GetResourcesResponse (store, multipart)
      resources: array<Object.Resource> = []
  message 5 GetDeletedResources (customer)
      dataspaceUri: string
      deleteTimeFilter: null | long
      dataObjectTypes: array<string> = []
  message 6 GetDeletedResourcesResponse (store, multipart)
      deletedResources: array<Object.DeletedResource> = []
  message 7 GetResourcesEdgesResponse (store, multipart)
      edges: array<Object.Edge>

protocol 4 Store (store, customer)
  message 1 GetDataObjects (customer)
      uris: map<string>
      format: string = "xml"
  message 2 PutDataObjects (customer, multipart)
      dataObjects: map<Object.DataObject>
      pruneContainedObjects: boolean = false
  message 3 DeleteDataObjects (customer)
      uris: map<string>
      pruneContainedObjects: boolean = false
  message 4 GetDataObjectsResponse (store, multipart)
      dataObjects: map<Object.DataObject> = {}
  message 8 Chunk (store, customer, multipart)
      blobId: Uuid
      data: bytes
      final: boolean
  message 9 PutDataObjectsResponse (store, multipart)
      success: map<Object.PutResponse>
  message 10 DeleteDataObjectsResponse (store, multipart)
      deletedUris: map<ArrayOfString>

protocol 5 StoreNotification (store, customer)
  message 2 ObjectChanged (store, multipart)
      change: Object.ObjectChange
      requestUuid: Uuid
  message 3 ObjectDeleted (store)
      uri: string
      changeTime: long
      requestUuid: Uuid
  message 4 UnsubscribeNotifications (customer)
      requestUuid: Uuid
  message 5 ObjectAccessRevoked (store)
      uri: string
      changeTime: long
      requestUuid: Uuid
  message 6 SubscribeNotifications (customer)
      request: map<Object.SubscriptionInfo>
  message 7 SubscriptionEnded (store)
      reason: string
      requestUuid: Uuid
  message 8 UnsolicitedStoreNotifications (store)
      subscriptions: array<Object.SubscriptionInfo>
  message 9 Chunk (store, multipart)
      blobId: Uuid
      data: bytes
      final: boolean
  message 10 SubscribeNotificationsResponse (store, multipart)
      success: map<string>
  message 11 ObjectActiveStatusChanged (store)
      activeStatus: Object.ActiveStatusKind
      changeTime: long
      resource: Object.Resource
      requestUuid: Uuid

protocol 6 GrowingObject (store, customer)
  message 1 DeleteParts (customer)
      uri: string
      uids: map<string>
  message 3 GetParts (customer)
      uri: string
      format: string = "xml"
      uids: map<string>
  message 4 GetPartsByRange (customer)
      uri: string
      format: string = "xml"
      indexInterval: Object.IndexInterval
      includeOverlappingIntervals: boolean
  message 5 PutParts (customer)
      uri: string
      format: string = "xml"
      parts: map<Object.ObjectPart>
  message 6 GetPartsResponse (store, multipart)
      uri: string
      format: string = "xml"
      parts: map<Object.ObjectPart>
  message 7 ReplacePartsByRange (customer, multipart)
      uri: string
      deleteInterval: Object.IndexInterval
      includeOverlappingIntervals: boolean
      format: string = "xml"
      parts: array<Object.ObjectPart>
  message 8 GetPartsMetadata (customer)
      uris: map<string>
  message 9 GetPartsMetadataResponse (store, multipart)
      metadata: map<Object.PartsMetadataInfo>
  message 10 GetPartsByRangeResponse (store, multipart)
      uri: string
      format: string = "xml"
      parts: array<Object.ObjectPart>
  message 11 DeletePartsResponse (store, multipart)
      success: map<string>
  message 13 PutPartsResponse (store, multipart)
      success: map<string>
  message 14 GetGrowingDataObjectsHeader (customer)
      uris: map<string>
      format: string = "xml"
  message 15 GetGrowingDataObjectsHeaderResponse (store, multipart)
      dataObjects: map<Object.DataObject>
  message 16 PutGrowingDataObjectsHeader (customer)
      dataObjects: map<Object.DataObject>
  message 17 PutGrowingDataObjectsHeaderResponse (store, multipart)
      success: map<string>
  message 18 ReplacePartsByRangeResponse (store)
  message 19 GetChangeAnnotations (customer)
      sinceChangeTime: long
      uris: map<string>
      latestOnly: boolean = false
  message 20 GetChangeAnnotationsResponse (store, multipart)
      changes: map<Object.ChangeResponseInfo>

protocol 7 GrowingObjectNotification (store, customer)
  message 2 PartsChanged (store)
      uri: string
      requestUuid: Uuid
      changeKind: Object.ObjectChangeKind
      changeTime: long
      format: string = ""
      parts: array<Object.ObjectPart>
  message 3 PartsDeleted (store)
      uri: string
      requestUuid: Uuid
      changeTime: long
      uids: array<string>
  message 4 UnsubscribePartNotification (customer)
      requestUuid: Uuid
  message 6 PartsReplacedByRange (store, multipart)
      uri: string
      requestUuid: Uuid
      changeTime: long
      deletedInterval: Object.IndexInterval
      includeOverlappingIntervals: boolean
      format: string = ""
      parts: array<Object.ObjectPart>
  message 7 SubscribePartNotifications (customer)
      request: map<Object.SubscriptionInfo>
  message 8 PartSubscriptionEnded (store)
      reason: string
      requestUuid: Uuid
  message 9 UnsolicitedPartNotifications (store)
      subscriptions: array<Object.SubscriptionInfo>
  message 10 SubscribePartNotificationsResponse (store, multipart)
      success: map<string>

protocol 9 DataArray (store, customer)
  message 1 GetDataArraysResponse (store, multipart)
      dataArrays: map<DataArrayTypes.DataArray> = {}
  message 2 GetDataArrays (customer)
      dataArrays: map<DataArrayTypes.DataArrayIdentifier>
  message 3 GetDataSubarrays (customer)
      dataSubarrays: map<DataArrayTypes.GetDataSubarraysType>
  message 4 PutDataArrays (customer)
      dataArrays: map<DataArrayTypes.PutDataArraysType>
  message 5 PutDataSubarrays (customer)
      dataSubarrays: map<DataArrayTypes.PutDataSubarraysType>
  message 6 GetDataArrayMetadata (customer)
      dataArrays: map<DataArrayTypes.DataArrayIdentifier>
  message 7 GetDataArrayMetadataResponse (store, multipart)
      arrayMetadata: map<DataArrayTypes.DataArrayMetadata> = {}
  message 8 GetDataSubarraysResponse (store, multipart)
      dataSubarrays: map<DataArrayTypes.DataArray> = {}
  message 9 PutUninitializedDataArrays (customer)
      dataArrays: map<DataArrayTypes.PutUninitializedDataArrayType>
  message 10 PutDataArraysResponse (store, multipart)
      success: map<string>
  message 11 PutDataSubarraysResponse (store, multipart)
      success: map<string>
  message 12 PutUninitializedDataArraysResponse (store, multipart)
      success: map<string>

protocol 13 DiscoveryQuery (store, customer)
  message 1 FindResources (customer)
      context: Object.ContextInfo
      scope: Object.ContextScopeKind
      storeLastWriteFilter: null | long
      activeStatusFilter: null | Object.ActiveStatusKind
  message 2 FindResourcesResponse (store, multipart)
      resources: array<Object.Resource> = []
      serverSortOrder: string

protocol 14 StoreQuery (store, customer)
  message 1 FindDataObjects (customer)
      context: Object.ContextInfo
      scope: Object.ContextScopeKind
      storeLastWriteFilter: null | long
      activeStatusFilter: null | Object.ActiveStatusKind
      format: string = "xml"
  message 2 FindDataObjectsResponse (store, multipart)
      dataObjects: array<Object.DataObject> = []
      serverSortOrder: string
  message 3 Chunk (store, multipart)
      blobId: Uuid
      data: bytes
      final: boolean

protocol 16 GrowingObjectQuery (store, customer)
  message 1 FindParts (customer)
      uri: string
      format: string = "xml"
  message 2 FindPartsResponse (store, multipart)
      uri: string
      serverSortOrder: string
      format: string = "xml"
      parts: array<Object.ObjectPart> = []

protocol 18 Transaction (store, customer)
  message 1 StartTransaction (customer)
      readOnly: boolean
      message: string = ""
      dataspaceUris: array<string> = [""]
  message 2 StartTransactionResponse (store)
      transactionUuid: Uuid
      successful: boolean = true
      failureReason: string = ""
  message 3 CommitTransaction (customer)
      transactionUuid: Uuid
  message 4 RollbackTransaction (customer)
      transactionUuid: Uuid
  message 5 CommitTransactionResponse (store)
      transactionUuid: Uuid
      successful: boolean = true
      failureReason: string = ""
  message 6 RollbackTransactionResponse (store)
      transactionUuid: Uuid
      successful: boolean = true
      failureReason: string = ""

protocol 21 ChannelSubscribe (store, customer)
  message 1 GetChannelMetadata (customer)
      uris: map<string>
  message 2 GetChannelMetadataResponse (store, multipart)
      metadata: map<ChannelData.ChannelMetadataRecord> = {}
  message 3 SubscribeChannels (customer)
      channels: map<ChannelData.ChannelSubscribeInfo>
  message 4 ChannelData (store)
      data: array<ChannelData.DataItem>
  message 6 RangeReplaced (store, multipart)
      changeTime: long
      channelIds: array<long>
      changedInterval: Object.IndexInterval
      data: array<ChannelData.DataItem>
  message 7 UnsubscribeChannels (customer)
      channelIds: map<long>
  message 8 SubscriptionsStopped (store, multipart)
      reason: string
      channelIds: map<long> = {}
  message 9 GetRanges (customer)
      requestUuid: Uuid
      channelRanges: array<ChannelData.ChannelRangeInfo>
  message 10 GetRangesResponse (store, multipart)
      data: array<ChannelData.DataItem> = []
  message 11 CancelGetRanges (customer)
      requestUuid: Uuid
  message 12 SubscribeChannelsResponse (store, multipart)
      success: map<string>
  message 13 ChannelsTruncated (store)
      channels: array<ChannelData.TruncateInfo>
      changeTime: long
  message 14 GetChangeAnnotations (customer)
      channels: map<ChannelData.ChannelChangeRequestInfo>
      latestOnly: boolean = false
  message 15 GetChangeAnnotationsResponse (store, multipart)
      changes: map<Object.ChangeResponseInfo>

protocol 22 ChannelDataLoad (store, customer)
  message 1 OpenChannels (customer)
      uris: map<string>
  message 2 OpenChannelsResponse (store, multipart)
      channels: map<ChannelData.OpenChannelInfo> = {}
  message 3 CloseChannels (customer)
      id: map<long>
  message 4 ChannelData (customer)
      data: array<ChannelData.DataItem>
  message 6 ReplaceRange (customer, multipart)
      changedInterval: Object.IndexInterval
      channelIds: array<long>
      data: array<ChannelData.DataItem>
  message 7 ChannelsClosed (store, multipart)
      reason: string
      id: map<long>
  message 8 ReplaceRangeResponse (store)
      channelChangeTime: long
  message 9 TruncateChannels (customer)
      channels: map<ChannelData.TruncateInfo>
  message 10 TruncateChannelsResponse (store, multipart)
      channelsTruncatedTime: map<long>

protocol 24 Dataspace (store, customer)
  message 1 GetDataspaces (customer)
      storeLastWriteFilter: null | long
  message 2 GetDataspacesResponse (store, multipart)
      dataspaces: array<Object.Dataspace> = []
  message 3 PutDataspaces (customer)
      dataspaces: map<Object.Dataspace>
  message 4 DeleteDataspaces (customer)
      uris: map<string>
  message 5 DeleteDataspacesResponse (store, multipart)
      success: map<string>
  message 6 PutDataspacesResponse (store, multipart)
      success: map<string>

protocol 25 SupportedTypes (store, customer)
  message 1 GetSupportedTypes (customer)
      uri: string
      scope: Object.ContextScopeKind
      returnEmptyTypes: boolean = false
      countObjects: boolean = false
  message 2 GetSupportedTypesResponse (store, multipart)
      supportedTypes: array<Object.SupportedType> = []

protocol 2100 WitsmlSoap (store, customer) private
  message 1 WMLS_AddToStore (customer)
      WMLtypeIn: string
      XMLin: string
      OptionsIn: string
      CapabilitiesIn: string
  message 2 WMLS_AddToStoreResponse (store)
      Result: int
      SuppMsgOut: string
  message 3 WMLS_DeleteFromStore (customer)
      WMLtypeIn: string
      XMLin: string
      OptionsIn: string
      CapabilitiesIn: string
  message 4 WMLS_DeleteFromStoreResponse (store)
      Result: int
      SuppMsgOut: string
  message 5 WMLS_GetBaseMsg (customer)
      ReturnValueIn: int
  message 6 WMLS_GetBaseMsgResponse (store)
      Result: string
  message 7 WMLS_GetCap (customer)
      OptionsIn: string
  message 8 WMLS_GetCapResponse (store)
      Result: int
      CapabilitiesOut: string
      SuppMsgOut: string
  message 9 WMLS_GetFromStore (customer)
      WMLtypeIn: string
      XMLin: string
      OptionsIn: string
      CapabilitiesIn: string
  message 10 WMLS_GetFromStoreResponse (store)
      Result: int
      XMLout: string
      SuppMsgOut: string
  message 11 WMLS_GetVersion (customer)
  message 12 WMLS_GetVersionResponse (store)
      Result: string
  message 13 WMLS_UpdateInStore (customer)
      WMLtypeIn: string
      XMLin: string
      OptionsIn: string
      CapabilitiesIn: string
  message 14 WMLS_UpdateInStoreResponse (store)
      Result: int
      SuppMsgOut: string

# OSDU extension protocols of open-etp-server (not in the official file).

protocol 2404 StoreOSDU (store, customer)
  message 1 CopyDataObjectsByValue (customer)
      uri: string
      sourcesDepth: int
      dataObjectTypes: array<string>
  message 2 CopyDataObjectsByValueResponse (store, multipart)
      copiedDataObjects: array<string>

protocol 2424 DataspaceOSDU (store, customer)
  message 1 GetDataspaceInfo (customer)
      uris: map<string>
  message 2 GetDataspaceInfoResponse (store, multipart)
      dataspaces: map<Object.Dataspace>
  message 3 CopyDataspacesContent (customer)
      dataspaces: map<string>
      targetDataspace: string
  message 4 CopyDataspacesContentResponse (store, multipart)
      success: map<string>
  message 5 LockDataspaces (customer)
      uris: map<string>
      lock: boolean
  message 6 LockDataspacesResponse (store)
      success: map<string>
  message 7 CopyToDataspace (customer)
      uris: map<string>
      dataspaceUri: string
  message 8 CopyToDataspaceResponse (store, multipart)
      success: map<string>
"""
