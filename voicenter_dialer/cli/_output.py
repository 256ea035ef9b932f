"""Where the command's words go: text or one JSON document; exit codes, usage errors.

Text goes to stdout. With ``--json`` stdout holds one JSON document and nothing else;
progress and narration go to stderr either way. Every line goes through :func:`write`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from voicenter_dialer._dicts import jsonable as library_jsonable
from voicenter_dialer._exceptions import DialerError
from voicenter_dialer._exceptions import kind as error_kind

__all__ = [
    "EPILOG",
    "EXIT_INCOMPLETE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LIBRARY_LOGGER",
    "Incomplete",
    "Output",
    "UsageError",
    "for_shell",
    "jsonable",
    "log_to_stderr",
    "write",
]

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Every command's --help ends with this.
EPILOG = """\
exit status:
  0    success (upload: every lead accepted)
  1    the service refused something, or some leads were rejected or failed, or an
       upload stopped after it had started sending (its journal failed, say)
  2    usage, input or journal error: nothing was sent (unless a lead file changed
       during its upload: the upload stops there)
  130  interrupted

environment:
  VOICENTER_CODE      the account code (instead of --code)
  VOICENTER_CAMPAIGN  the campaign code (instead of --campaign or CAMPAIGN); prefer it:
                      other users of the machine see a command line in 'ps'
  VOICENTER_BASE_URL  the API's base URL (instead of --base-url)
"""


class UsageError(Exception):
    """A usage or input error: printed, exit status 2."""


class Incomplete(Exception):
    """*error* ended an upload after it had read leads, so after it may have sent some:
    printed, exit status 1 (not 2, which says nothing was sent)."""

    def __init__(self, error: DialerError) -> None:
        super().__init__(
            f"{error} (the upload had started: leads read before this may have been added; "
            "'voicenter-dialer journal' tells which once the journal can be read)"
        )
        self.error = error


# The library's messages name its keyword arguments; a shell user knows the flags.
_FLAGS = {
    "allow_insecure_http=True": "--allow-insecure-http",
    "allow_insecure_http": "--allow-insecure-http",
    "base_url": "--base-url",
    "chunk_size": "--chunk-size",
    "max_chunk_bytes": "--max-chunk-bytes",
    "max_retries": "--max-retries",
    "requests_per_second": "--requests-per-second",
}
_KEYWORDS = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, _FLAGS)) + r")(?![\w=])")


def for_shell(message: str) -> str:
    """*message* with the library's keyword arguments named as the CLI's flags."""
    return _KEYWORDS.sub(lambda match: _FLAGS[match[1]], message)


def jsonable(value: object, *, show_codes: bool = False) -> Any:
    """A JSON-ready form of a model, report, error or plain value (:func:`to_dict`'s), with a
    campaign's code masked unless *show_codes*."""
    return library_jsonable(value, mask_codes=not show_codes)


def write(text: str, stream: TextIO | None = None) -> None:
    """Print *text* and a newline on *stream* (standard output by default), now.

    Every line the command prints goes through here: what the stream's encoding cannot hold
    (a lone surrogate from a file name that is not UTF-8) is written as an escape
    (``\\udcff``) rather than ending the command with a UnicodeEncodeError halfway through.
    """
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding) + "\n")
    stream.flush()


def _unicode(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return codecs.lookup(encoding).name.startswith("utf")


class Output:
    """Where a command's words go, by ``--json``.

    :meth:`say` is the result as text (stdout; nothing with ``--json``), :meth:`note` is
    narration (stdout as text, stderr with ``--json``; nothing with ``-q``),
    :meth:`document` the result as JSON (stdout with ``--json``, once; nothing as text).
    """

    def __init__(self, json_mode: bool, *, quiet: bool = False) -> None:
        self.json = json_mode
        #: ``-q``: no narration (nor progress); the result, warnings and errors still.
        self.quiet = quiet
        self.documented = False

    def say(self, text: str) -> None:
        if not self.json:
            write(text)

    def note(self, text: str) -> None:
        if not self.quiet:
            write(text, sys.stderr if self.json else sys.stdout)

    def warn(self, text: str) -> None:
        """A problem that does not end the command, on stderr."""
        write(f"voicenter-dialer: warning: {text}", sys.stderr)

    def document(self, data: Mapping[str, Any]) -> None:
        if self.json and not self.documented:
            self.documented = True
            # A lone surrogate left by ensure_ascii=False becomes "\udcff" in write(): a
            # JSON escape. Other escapes write() makes are not JSON's: a stream that cannot
            # hold every character gets ASCII JSON.
            write(json.dumps(data, ensure_ascii=not _unicode(sys.stdout)))

    def error(
        self, message: str, error: BaseException, status: int, *, prog: str = "voicenter-dialer"
    ) -> None:
        """Report a failure: on stderr, and as the JSON document when none was printed."""
        label = "error: " if status == EXIT_USAGE else ""
        write(f"{prog}: {label}{message}", sys.stderr)
        if isinstance(error, Incomplete):
            error = error.error
        kind = "UsageError" if isinstance(error, UsageError) else error_kind(error)
        self.document({"error": {"type": kind, "message": message}, "exit_status": status})


LIBRARY_LOGGER = logging.getLogger("voicenter_dialer")


class _StderrLines(logging.Handler):
    """The library's log lines on stderr, looked up when written: a progress bar redirects it
    to print above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        write(f"voicenter-dialer: {self.format(record)}", sys.stderr)


@contextlib.contextmanager
def log_to_stderr(verbose: bool) -> Iterator[None]:
    """With ``-v``, the library's INFO lines (each retry, each upload's counts) on stderr."""
    if not verbose:
        yield
        return
    handler, level = _StderrLines(), LIBRARY_LOGGER.level
    LIBRARY_LOGGER.addHandler(handler)
    LIBRARY_LOGGER.setLevel(logging.INFO)
    try:
        yield
    finally:
        LIBRARY_LOGGER.removeHandler(handler)
        LIBRARY_LOGGER.setLevel(level)
