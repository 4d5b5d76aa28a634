"""The PyFlink side of tests/flink_python.rs: two PyFlink jobs using connectors/flink/python.

1. sink: 1,000 strings "py-0".."py-999" through a Python map (str.upper) into SluiceSink on
   topic py.out. Bounded: the job ends once the relay has acknowledged every record.
2. source: SluiceSource on topic py.in through a Python map (str.upper), collected here; prints
   "GOT <record>" for each and stops (cancelling the job) after `count` records.

Usage: sluice_pyflink_job.py JAR URL COUNT. Prints "SINK DONE" after job 1, "SOURCE STARTED"
when job 2 is submitted.
"""

import sys

from pyflink.common import Types, WatermarkStrategy
from pyflink.common.serialization import SimpleStringSchema
from pyflink.datastream import StreamExecutionEnvironment

from sluice_flink import SluiceSink, SluiceSource, add_jar


def main(jar: str, url: str, count: int) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(1)
    add_jar(env, jar)

    records = [f"py-{i}" for i in range(1000)]
    env.from_collection(records, type_info=Types.STRING()).map(
        str.upper, output_type=Types.STRING()
    ).sink_to(
        SluiceSink.builder()
        .set_url(url)
        .set_topic("py.out")
        .set_serialization_schema(SimpleStringSchema())
        .build()
    )
    env.execute("sluice-pyflink-sink")
    print("SINK DONE", flush=True)

    source = (
        SluiceSource.builder()
        .set_url(url)
        .set_topics("py.in")
        .set_deserialization_schema(SimpleStringSchema())
        .build()
    )
    upper = env.from_source(source, WatermarkStrategy.no_watermarks(), "sluice").map(
        str.upper, output_type=Types.STRING()
    )
    print("SOURCE STARTED", flush=True)
    with upper.execute_and_collect("sluice-pyflink-source") as results:
        for n, record in enumerate(results, 1):
            print("GOT", record, flush=True)
            if n == count:
                break


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
