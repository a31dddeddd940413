# mypy: disable-error-code="type-arg"
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RMakerChRespStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    Success: _ClassVar[RMakerChRespStatus]
    Fail: _ClassVar[RMakerChRespStatus]
    InvalidParam: _ClassVar[RMakerChRespStatus]
    Disabled: _ClassVar[RMakerChRespStatus]

class RMakerChRespMsgType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TypeCmdChallengeResponse: _ClassVar[RMakerChRespMsgType]
    TypeRespChallengeResponse: _ClassVar[RMakerChRespMsgType]
    TypeCmdGetNodeID: _ClassVar[RMakerChRespMsgType]
    TypeRespGetNodeID: _ClassVar[RMakerChRespMsgType]
    TypeCmdDisableChalResp: _ClassVar[RMakerChRespMsgType]
    TypeRespDisableChalResp: _ClassVar[RMakerChRespMsgType]
Success: RMakerChRespStatus
Fail: RMakerChRespStatus
InvalidParam: RMakerChRespStatus
Disabled: RMakerChRespStatus
TypeCmdChallengeResponse: RMakerChRespMsgType
TypeRespChallengeResponse: RMakerChRespMsgType
TypeCmdGetNodeID: RMakerChRespMsgType
TypeRespGetNodeID: RMakerChRespMsgType
TypeCmdDisableChalResp: RMakerChRespMsgType
TypeRespDisableChalResp: RMakerChRespMsgType

class CmdCRPayload(_message.Message):
    __slots__ = ("payload",)
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    def __init__(self, payload: _Optional[bytes] = ...) -> None: ...

class RespCRPayload(_message.Message):
    __slots__ = ("payload", "node_id")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    node_id: str
    def __init__(self, payload: _Optional[bytes] = ..., node_id: _Optional[str] = ...) -> None: ...

class CmdGetNodeIDPayload(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RespGetNodeIDPayload(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...

class CmdDisableChalRespPayload(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RespDisableChalRespPayload(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RMakerChRespPayload(_message.Message):
    __slots__ = ("msg", "status", "cmdChallengeResponsePayload", "respChallengeResponsePayload", "cmdGetNodeIDPayload", "respGetNodeIDPayload", "cmdDisableChalRespPayload", "respDisableChalRespPayload")
    MSG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CMDCHALLENGERESPONSEPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RESPCHALLENGERESPONSEPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CMDGETNODEIDPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RESPGETNODEIDPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    CMDDISABLECHALRESPPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RESPDISABLECHALRESPPAYLOAD_FIELD_NUMBER: _ClassVar[int]
    msg: RMakerChRespMsgType
    status: RMakerChRespStatus
    cmdChallengeResponsePayload: CmdCRPayload
    respChallengeResponsePayload: RespCRPayload
    cmdGetNodeIDPayload: CmdGetNodeIDPayload
    respGetNodeIDPayload: RespGetNodeIDPayload
    cmdDisableChalRespPayload: CmdDisableChalRespPayload
    respDisableChalRespPayload: RespDisableChalRespPayload
    def __init__(self, msg: _Optional[_Union[RMakerChRespMsgType, str]] = ..., status: _Optional[_Union[RMakerChRespStatus, str]] = ..., cmdChallengeResponsePayload: _Optional[_Union[CmdCRPayload, _Mapping]] = ..., respChallengeResponsePayload: _Optional[_Union[RespCRPayload, _Mapping]] = ..., cmdGetNodeIDPayload: _Optional[_Union[CmdGetNodeIDPayload, _Mapping]] = ..., respGetNodeIDPayload: _Optional[_Union[RespGetNodeIDPayload, _Mapping]] = ..., cmdDisableChalRespPayload: _Optional[_Union[CmdDisableChalRespPayload, _Mapping]] = ..., respDisableChalRespPayload: _Optional[_Union[RespDisableChalRespPayload, _Mapping]] = ...) -> None: ...
