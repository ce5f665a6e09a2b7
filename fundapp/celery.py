"""The Celery application. Tasks take ids, load rows and call one service (§16)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fundapp.settings")

app = Celery("fundapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
