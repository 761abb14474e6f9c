"""The entrypoint's failures: one readable line naming the fix, and a distinct exit code each
(from sysexits.h, so they mean something to operators too; an interruption is 128 + the signal,
as a shell reports it)."""

from enum import IntEnum


class Exit(IntEnum):
    BAD_SETTING = 64  # EX_USAGE: a variable is missing or invalid
    CORRUPT_ARTIFACT = 65  # EX_DATAERR: an artifact's md5 is not the one DVC recorded, or a .dvc file is malformed
    MISSING_DATA = 66  # EX_NOINPUT: no such bucket, or an artifact is not in the remote
    UNREACHABLE = 69  # EX_UNAVAILABLE: the storage endpoint does not answer, or TLS or the proxy fails
    PULL_FAILED = 70  # EX_SOFTWARE: dvc failed for another reason (its output is above), or a bug
    UNWRITABLE_WORKDIR = 73  # EX_CANTCREAT: MODEL_WORKDIR cannot be written, is full, or holds a broken project
    PORT_IN_USE = 75  # EX_TEMPFAIL: something already listens on PORT
    MODEL_UNUSABLE = 76  # EX_PROTOCOL: the artifacts verify, but do not load or cannot score a sample
    BAD_CREDENTIALS = 77  # EX_NOPERM: the storage refused the credentials
    INTERRUPTED = 130  # SIGINT during start-up
    TERMINATED = 143  # SIGTERM during start-up


class Failure(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code


def one_line(error: BaseException) -> str:
    """An error's message on one line (library messages may span several), or its type's name."""
    return " ".join(str(error).split()) or type(error).__name__
