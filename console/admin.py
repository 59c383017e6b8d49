"""Django's admin autodiscovery imports this module: importing the page
modules registers their ModelAdmins (each module's @admin.register)."""

from console import deliveries, history, jobs, tenants, webhooks

__all__ = ["deliveries", "history", "jobs", "tenants", "webhooks"]
