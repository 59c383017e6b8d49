# console.dates.compact's form, for Django's own rendering of dates and times
# (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
DATETIME_FORMAT = "j M Y H:i:s"
SHORT_DATETIME_FORMAT = "j M Y H:i:s"
DATE_FORMAT = "j M Y"
SHORT_DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i:s"
