"""Settings of the Celery workers that the integration tests start.

The real settings, with one difference: the worker's default queue is the test's own
(``JKFUND_TEST_QUEUE``), so what the worker enqueues itself (the reconciler's releases)
reaches only that worker, never another test run's or a developer's.
"""

import os

from fundapp.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["JKFUND_TEST_QUEUE"]
# Routed tasks (webhook delivery) also stay on the test's queue; the test's receivers
# listen on 127.0.0.1.
CELERY_TASK_ROUTES = {name: {"queue": CELERY_TASK_DEFAULT_QUEUE} for name in CELERY_TASK_ROUTES}  # noqa: F405
WEBHOOKS_ALLOW_LOOPBACK = True
# Webhook retries within a fraction of a second, not minutes.
WEBHOOKS_RETRY_BASE_SECONDS = 0.05
