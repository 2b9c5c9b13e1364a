"""Errors the simulated API answers with, in Botify's shape."""

from starlette.responses import JSONResponse

NOT_AUTHORIZED = "1001"
PERMISSION_DENIED = "1002"
ANALYSIS_NOT_FOUND = "1004"
PROJECT_NOT_FOUND = "1010"
BAD_REQUEST = "1020"
UNKNOWN_FIELD = "1029"
QUERY_TOO_BIG = "1043"
TOO_MANY_REQUESTS = "1053"
EXPORT_FAILED = "1060"
UNAVAILABLE = "5003"


class ApiError(Exception):
    """An API answer other than success: HTTP status, Botify error code and a sentence."""

    def __init__(self, status: int, code: str, message: str, detail: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.detail, self.headers = detail or {}, headers

    def body(self) -> dict:
        return {"error": {"error_code": self.code, "message": self.message,
                          "error_detail": self.detail}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def bad_request(message: str, **detail) -> ApiError:
    return ApiError(400, BAD_REQUEST, message, detail)
