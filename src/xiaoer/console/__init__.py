"""The merchant console (商家后台): server-rendered pages (Jinja2) over the same services as the
API and the CLI, mounted by the API app at `/console` (`views.create_console`). Sessions and
CSRF in `auth.py`, the words in both languages in `i18n.py`."""

from xiaoer.console.views import BASE, create_console

__all__ = ["BASE", "create_console"]
