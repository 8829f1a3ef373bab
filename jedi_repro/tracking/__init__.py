"""MLflow tracking: explicit-run-id parent/child/grandchild runs, provenance, lock-tolerant client."""
from jedi_repro.tracking.client import RetryingClient, call_with_retry, is_lock_error  # noqa: F401
from jedi_repro.tracking.runs import end_run, log_train_run, start_train_run  # noqa: F401
