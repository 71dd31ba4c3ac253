"""Domain errors. Each carries the HTTP status the API answers with.

XiaoerError
  + BadInput        (400)  malformed request, invalid bundle, unknown option
  + Unauthorized    (401)  missing or bad credentials / shopper token
  + Forbidden       (403)  authenticated, but not allowed (e.g. another shopper's order)
  + NotFound        (404)  shop, shopper, conversation, order, product
  + Conflict        (409)  state does not allow it
  + TooLarge        (413)  a request or document over its documented size limit
  + TooManyRequests (429)  a shopper sends faster than the shop's rate limit
  + UpstreamError   (502)  LLM endpoint or commerce platform failed
  + Unavailable     (503)  busy: the request was not taken; send it again
"""

from __future__ import annotations


class XiaoerError(Exception):
    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(XiaoerError):
    status_code = 400


class Unauthorized(XiaoerError):
    status_code = 401


class Forbidden(XiaoerError):
    status_code = 403


class NotFound(XiaoerError):
    status_code = 404


class Conflict(XiaoerError):
    status_code = 409


class TooLarge(XiaoerError):
    status_code = 413


class TooManyRequests(XiaoerError):
    status_code = 429


class UpstreamError(XiaoerError):
    status_code = 502

    def __init__(self, message: str, *, overloaded: bool = False) -> None:
        super().__init__(message)
        self.overloaded = overloaded
        """The upstream said it is too busy (HTTP 429 / 503) or did not answer in time."""


class Unavailable(XiaoerError):
    status_code = 503
