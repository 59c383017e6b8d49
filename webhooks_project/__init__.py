# Load the Celery app whenever Django loads, so @shared_task binds to it and
# transaction.on_commit(... .delay) publishes through our broker settings.
from .celery import app as celery_app

__all__ = ("celery_app",)
