"""Project-started local services: a single-node Apache Kafka (KRaft) and a PostgreSQL.

Standard library only: this runs before (and outside) the virtualenv.

    python -m devservices up [--kafka-only]      start what is not running, print env lines
    python -m devservices down                   stop what was recorded as started
    python -m devservices run [--kafka-only] -- CMD...
                                                 start, run CMD with LAPORFLOW_* set, stop
                                                 what this invocation started, exit with
                                                 CMD's exit code
    python -m devservices env                    print the env lines of what is running

(``python scripts/services.py ...`` is the same command line.) Only the ``KEY=value``
lines go to stdout (so ``eval "$(... up)"`` works); progress and errors go to stderr.

One module per job: :mod:`~devservices.common` (paths, versions, process helpers),
:mod:`~devservices.kafka_probe` (a wire-protocol readiness probe),
:mod:`~devservices.kafka_jars` (Kafka from ``KAFKA_HOME``, Maven Central or the release
tarball), :mod:`~devservices.kafka` (start and stop the broker),
:mod:`~devservices.postgres` (a throwaway cluster of Debian's server) and
:mod:`~devservices.cli`. Python callers (the pytest fixtures) use the names below.
"""

from devservices.common import ServiceError, kafka_port, pg_port
from devservices.kafka import ensure_kafka, stop_kafka
from devservices.kafka_probe import kafka_ready
from devservices.postgres import ensure_postgres, pg_ready, stop_postgres

__all__ = [
    "ServiceError",
    "ensure_kafka",
    "ensure_postgres",
    "kafka_port",
    "kafka_ready",
    "pg_port",
    "pg_ready",
    "stop_kafka",
    "stop_postgres",
]
