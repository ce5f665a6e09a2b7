"""Settings for the benchmarks: the product's, on a database of their own.

The runner creates, migrates and drops ``jkfund_bench`` (and its templates) on the server
named by DATABASE_URL; the dev and test databases are never touched. The API's rate limit
is raised so that a load test measures the throttle's cost, not its refusals.
"""

import os

from fundapp.settings import *  # noqa: F403
from fundapp.settings import DATABASES, REST_FRAMEWORK

DATABASES["default"]["NAME"] = os.environ.get("BENCH_DATABASE_NAME", "jkfund_bench")
DATABASES["default"]["TEST"] = {"NAME": "test_jkfund_bench"}
ROOT_URLCONF = "bench.urls"
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"client": "100000000/min"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = False

import warnings  # noqa: E402

warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
