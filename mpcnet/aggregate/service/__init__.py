"""A Prio3 aggregation service in the style of the IETF's DAP: a leader and a helper.

Clients upload reports to the leader over HTTP (:func:`submit`); the leader and the helper verify
and aggregate them in jobs over mpcnet's authenticated mesh, storing everything in SQLite so that
a killed aggregator loses no accepted report and counts none twice; the collector gets a batch's
aggregate, optionally with differential-privacy noise added by each aggregator (:func:`collect`).
``mpcnet aggregator --config FILE`` runs an aggregator; docs/aggregate.md describes the design,
the security statement and the wire formats.
"""

from .aggregator import Helper, Leader, run_aggregator
from .client import CollectResult, DapError, collect, make_reports, reports_from_encoded, submit, upload
from .deploy import init_deployment
from .storage import SqliteStorage, Storage
from .task import AggregatorConfig, AggregatorEndpoint, Report, Task, load_config, load_task

__all__ = [
    "submit", "collect", "make_reports", "reports_from_encoded", "upload", "CollectResult", "DapError",
    "Task", "AggregatorEndpoint", "AggregatorConfig", "Report", "load_task", "load_config", "init_deployment",
    "Leader", "Helper", "run_aggregator", "Storage", "SqliteStorage",
]
