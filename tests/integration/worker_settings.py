"""Settings of the Celery workers that the integration tests start.

The real settings, with one difference: the worker's default queue is the test's own
(``JKFUND_TEST_QUEUE``), so what the worker enqueues itself (the reconciler's releases)
reaches only that worker, never another test run's or a developer's.
"""

import os

from fundapp.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["JKFUND_TEST_QUEUE"]
