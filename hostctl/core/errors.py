"""The one error type the library raises for things a user can act on."""

from __future__ import annotations


class HostctlError(Exception):
    """A failure with a message saying what went wrong and a hint saying what to do next."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


DISK_FULL = "no space left on device"


def disk_full(what: str, hint: str | None = None) -> HostctlError:
    """``the disk is full: could not WHAT``; the hint defaults to the deploy's."""
    return HostctlError(
        f"the disk is full: could not {what}",
        hint
        or "free space (docker image prune, old backups), then deploy again; "
        "the current release keeps serving",
    )
