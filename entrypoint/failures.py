"""The entrypoint's failures: one readable line naming the fix, and a distinct exit code each
(from sysexits.h, so they mean something to operators too)."""

from enum import IntEnum


class Exit(IntEnum):
    BAD_SETTING = 64  # EX_USAGE: a variable is missing or invalid
    CORRUPT_ARTIFACT = 65  # EX_DATAERR: an artifact's md5 is not the one DVC recorded
    MISSING_DATA = 66  # EX_NOINPUT: no such bucket, or an artifact is not in the remote
    UNREACHABLE = 69  # EX_UNAVAILABLE: the storage endpoint does not answer
    PULL_FAILED = 70  # EX_SOFTWARE: dvc failed for another reason (its output is above)
    UNWRITABLE_WORKDIR = 73  # EX_CANTCREAT: MODEL_WORKDIR cannot be written
    PORT_IN_USE = 75  # EX_TEMPFAIL: something already listens on PORT
    BAD_CREDENTIALS = 77  # EX_NOPERM: the storage refused the credentials


class Failure(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
