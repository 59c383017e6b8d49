"""Django's date formats for the pages the console does not draw itself
(Django's own and django-celery-beat's: users, tokens, periodic tasks): the
compact form console.dates uses everywhere else. FORMAT_MODULE_PATH names
this package."""
