"""Loaded with `-p tests.testenv` (pyproject addopts), before pytest-django
reads the settings: the test environment must be in place by then.

Tests talk to Redis database 15 (TEST_REDIS_URL) so they never touch the data
of a development instance on database 0, and refuse private destinations as
production does unless a test says otherwise.
"""

import os

os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["WEBHOOK_ALLOW_PRIVATE_IPS"] = "0"
