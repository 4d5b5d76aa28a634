"""PyFlink access to the Sluice Flink connector (the Java jar built by connectors/flink/build.sh).

A thin wrapper: each builder below drives the Java builder of the same name through PyFlink's
Java gateway, and ``build()`` returns PyFlink's own ``Sink`` or ``Source`` wrapper, so the
result goes to ``DataStream.sink_to`` and ``StreamExecutionEnvironment.from_source`` like any
Flink connector::

    from pyflink.common import Types, WatermarkStrategy
    from pyflink.common.serialization import SimpleStringSchema
    from pyflink.datastream import StreamExecutionEnvironment
    from sluice_flink import SluiceSink, SluiceSource, add_jar

    env = StreamExecutionEnvironment.get_execution_environment()
    add_jar(env, "/path/to/sluice-flink-0.1.0.jar")   # before building sinks or sources
    events = env.from_source(
        SluiceSource.builder()
        .set_url("ws://127.0.0.1:8080")
        .set_topics("events")
        .set_deserialization_schema(SimpleStringSchema())
        .build(),
        WatermarkStrategy.no_watermarks(),
        "sluice",
    )
    events.map(str.upper, output_type=Types.STRING()).sink_to(
        SluiceSink.builder()
        .set_url("ws://127.0.0.1:8080")
        .set_topic("results")
        .set_serialization_schema(SimpleStringSchema())
        .build()
    )
    env.execute("upper")

The records that reach the sink must be Java strings for ``SimpleStringSchema``: give the last
Python step ``output_type=Types.STRING()``. A topic selector (a record's topic chosen per record)
runs in the JVM and is only available from Java; from Python, use one sink per topic.
Durations are in milliseconds. Every setting is the Java builder's; see docs/flink.md.
"""

import os
from typing import List, Optional, Union

from pyflink.common.serialization import DeserializationSchema, SerializationSchema
from pyflink.datastream.connectors import Sink, Source
from pyflink.java_gateway import get_gateway

__all__ = ["SluiceSink", "SluiceSource", "add_jar", "default_jar"]


def add_jar(env, path: str) -> None:
    """Add the connector jar to the job (and to this Python process's Java gateway)."""
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: no such jar; build it with connectors/flink/build.sh (its last line is the path)"
        )
    env.add_jars("file://" + path)


def _jvm():
    return get_gateway().jvm


def _millis(ms: int):
    return _jvm().java.time.Duration.ofMillis(int(ms))


def _builder(java_class: str):
    try:
        cls = _jvm().io.sluice.flink
        return getattr(cls, java_class).builder()
    except Exception as e:  # py4j raises a generic error for a missing class
        raise RuntimeError(
            f"io.sluice.flink.{java_class} is not on the classpath: call "
            "sluice_flink.add_jar(env, path) with the jar from connectors/flink/build.sh first"
        ) from e


class _Reconnect:
    """Settings shared by both builders."""

    _j = None

    def set_url(self, url: str):
        """The relay's address: ``ws://host:port`` or ``wss://host:port``."""
        self._j.setUrl(url)
        return self

    def set_token(self, token: str):
        """A bearer token, sent as ``Authorization: Bearer <token>``."""
        self._j.setToken(token)
        return self

    def set_reconnect_backoff(self, initial_ms: int, max_ms: int):
        """Reconnect backoff: the first delay, doubling up to ``max_ms`` (100 ms and 10 s)."""
        self._j.setReconnectBackoff(_millis(initial_ms), _millis(max_ms))
        return self

    def set_max_reconnect_attempts(self, attempts: int):
        """Fail after this many consecutive failed attempts (0, the default: never)."""
        self._j.setMaxReconnectAttempts(int(attempts))
        return self

    def set_reconnect_timeout(self, ms: int):
        """Fail once the relay has been unreachable this long (default: never)."""
        self._j.setReconnectTimeout(_millis(ms))
        return self

    def set_connect_timeout(self, ms: int):
        """The bound on one connection attempt (default 10 s)."""
        self._j.setConnectTimeout(_millis(ms))
        return self


class SluiceSinkBuilder(_Reconnect):
    """Builds a ``SluiceSink``; see ``io.sluice.flink.SluiceSinkBuilder``."""

    def __init__(self):
        self._j = _builder("SluiceSink")

    def set_topic(self, topic: str):
        """Publish every record to this topic."""
        self._j.setTopic(topic)
        return self

    def set_serialization_schema(self, schema: SerializationSchema):
        """How a record becomes the bytes of one message (e.g. ``SimpleStringSchema()``)."""
        self._j.setSerializationSchema(schema._j_serialization_schema)
        return self

    def set_message_type(self, message_type: str):
        """``"text"`` (the default; the bytes must be UTF-8) or ``"binary"``."""
        kinds = _jvm().io.sluice.flink.MessageType
        self._j.setMessageType(kinds.valueOf(message_type.upper()))
        return self

    def set_max_in_flight_bytes(self, n: int):
        """Unacknowledged bytes per subtask before the task blocks (default 4 MiB)."""
        self._j.setMaxInFlightBytes(int(n))
        return self

    def set_ack_timeout(self, ms: int):
        """How long a send or an acknowledgement may take (default 30 s)."""
        self._j.setAckTimeout(_millis(ms))
        return self

    def build(self) -> Sink:
        """Check the settings (a wrong one raises the Java IllegalArgumentException) and build."""
        return Sink(self._j.build())


class SluiceSourceBuilder(_Reconnect):
    """Builds a ``SluiceSource``; see ``io.sluice.flink.SluiceSourceBuilder``."""

    def __init__(self):
        self._j = _builder("SluiceSource")

    def set_topics(self, *topics: Union[str, List[str]]):
        """The topics to read (one split each): ``set_topics("a", "b")`` or a list."""
        names = list(topics[0]) if len(topics) == 1 and isinstance(topics[0], list) else list(topics)
        gateway = get_gateway()
        array = gateway.new_array(gateway.jvm.java.lang.String, len(names))
        for i, name in enumerate(names):
            array[i] = name
        self._j.setTopics(array)
        return self

    def set_deserialization_schema(self, schema: DeserializationSchema):
        """How a message's bytes become a record (e.g. ``SimpleStringSchema()``)."""
        self._j.setDeserializationSchema(schema._j_deserialization_schema)
        return self

    def set_max_queued_bytes(self, n: int):
        """Received bytes held per subtask before it stops reading (default 8 MiB)."""
        self._j.setMaxQueuedBytes(int(n))
        return self

    def build(self) -> Source:
        """Check the settings and build."""
        return Source(self._j.build())


class SluiceSink:
    """Entry point, as in Java: ``SluiceSink.builder()``."""

    @staticmethod
    def builder() -> SluiceSinkBuilder:
        return SluiceSinkBuilder()


class SluiceSource:
    """Entry point, as in Java: ``SluiceSource.builder()``."""

    @staticmethod
    def builder() -> SluiceSourceBuilder:
        return SluiceSourceBuilder()


def default_jar() -> Optional[str]:
    """The jar connectors/flink/build.sh writes next to this file's directory, if it is there."""
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
    if not os.path.isdir(target):
        return None
    jars = sorted(f for f in os.listdir(target) if f.startswith("sluice-flink-") and f.endswith(".jar"))
    return os.path.abspath(os.path.join(target, jars[-1])) if jars else None
