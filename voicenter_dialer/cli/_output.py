"""Where the command's words go: text or one JSON document; exit codes, usage errors.

Text goes to stdout. With ``--json`` stdout holds one JSON document and nothing else;
progress and narration go to stderr either way. Every line goes through :func:`write`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO, cast

import attrs

from voicenter_dialer._dicts import jsonable as library_jsonable
from voicenter_dialer._exceptions import DialerError
from voicenter_dialer._exceptions import kind as error_kind
from voicenter_dialer._models import Campaign
from voicenter_dialer._secrets import redact

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
    "discard",
    "for_shell",
    "jsonable",
    "log_to_stderr",
    "write",
    "write_stderr",
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
    campaign's code masked unless *show_codes*: wherever it is (an unknown field in
    ``.extra`` may echo it)."""
    if show_codes:
        return library_jsonable(value, mask_codes=False)
    return _redacted(library_jsonable(value, mask_codes=True), tuple(_campaign_codes(value)))


def _campaign_codes(value: object) -> Iterator[str]:
    """The codes of the campaigns *value* (a model, or a list of them) holds."""
    if isinstance(value, Campaign):
        yield value.code
    elif attrs.has(type(value)):
        for field in attrs.fields(cast(Any, type(value))):
            yield from _campaign_codes(getattr(value, field.name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _campaign_codes(item)


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


def write_stderr(text: str) -> None:
    """:func:`write` *text* on stderr, or drop it when stderr cannot take it (closed: ``2>&-``;
    failing: ``2>/dev/full``): narration must never cost the result on stdout."""
    if sys.stderr is None:  # fd 2 was closed when Python started
        return
    try:
        write(text, sys.stderr)
    except (OSError, ValueError):
        discard(sys.stderr)


def discard(stream: TextIO) -> None:
    """Point *stream*'s file at /dev/null: what it holds and is given is dropped, and the
    interpreter's last flush does not fail too (exit status 120)."""
    try:
        fileno = stream.fileno()
    except (OSError, ValueError):  # not a file (captured), or closed already
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


def _redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON-ready *value* with every string (keys too) redacted of *secrets*."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {redact(str(k), secrets): _redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


def _unicode(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return codecs.lookup(encoding).name.startswith("utf")


class Output:
    """Where a command's words go, by ``--json``.

    :meth:`say` is the result as text (stdout; nothing with ``--json``), :meth:`note` is
    narration (stdout as text, stderr with ``--json``; nothing with ``-q``),
    :meth:`document` the result as JSON (stdout with ``--json``, once; nothing as text).
    Every string printed is redacted of :attr:`secrets`: the service may echo a code anywhere
    (a field this version does not know, a description).
    """

    def __init__(self, json_mode: bool, *, quiet: bool = False) -> None:
        self.json = json_mode
        #: ``-q``: no narration (nor progress); the result, warnings and errors still.
        self.quiet = quiet
        self.documented = False
        #: The codes never printed in full (the command line's and the environment's).
        self.secrets: tuple[str, ...] = ()

    def say(self, text: str) -> None:
        if not self.json:
            write(redact(text, self.secrets))

    def note(self, text: str) -> None:
        if self.quiet:
            return
        if self.json:
            write_stderr(redact(text, self.secrets))
        else:
            write(redact(text, self.secrets))

    def warn(self, text: str) -> None:
        """A problem that does not end the command, on stderr."""
        write_stderr(redact(f"voicenter-dialer: warning: {text}", self.secrets))

    def document(self, data: Mapping[str, Any]) -> None:
        if self.json and not self.documented:
            self.documented = True
            # A lone surrogate left by ensure_ascii=False becomes "\udcff" in write(): a
            # JSON escape. Other escapes write() makes are not JSON's: a stream that cannot
            # hold every character gets ASCII JSON.
            safe = _redacted(data, self.secrets)
            write(json.dumps(safe, ensure_ascii=not _unicode(sys.stdout)))

    def error(
        self, message: str, error: BaseException, status: int, *, prog: str = "voicenter-dialer"
    ) -> None:
        """Report a failure: on stderr, and as the JSON document when none was printed."""
        label = "error: " if status == EXIT_USAGE else ""
        write_stderr(redact(f"{prog}: {label}{message}", self.secrets))
        if isinstance(error, Incomplete):
            error = error.error
        kind = "UsageError" if isinstance(error, UsageError) else error_kind(error)
        self.document({"error": {"type": kind, "message": message}, "exit_status": status})


LIBRARY_LOGGER = logging.getLogger("voicenter_dialer")


class _StderrLines(logging.Handler):
    """The library's log lines on stderr, looked up when written: a progress bar redirects it
    to print above itself."""

    def emit(self, record: logging.LogRecord) -> None:
        write_stderr(f"voicenter-dialer: {self.format(record)}")


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
