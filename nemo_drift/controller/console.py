"""What of a stage process's output reaches the console, and what only its log.

The log gets everything the process writes. The console gets what is meant for the user:

  - progress displays: text redrawn in place after a carriage return (tqdm bars, on either stream),
    shown live; the log keeps the display's last state instead of every redraw;
  - whole lines on stdout: the stage's own results ("exported ...", the parity report) and the
    final frame of Megatron-Bridge's progress bars, except the few third-party prints in
    `THIRD_PARTY_STDOUT`;
  - nothing else from stderr: Python warnings, the logging of torch, transformers, megatron-core and
    Megatron-Bridge, torchrun's notices. A stage that fails raises with the tail of its log
    (`launcher.StageFailed`), so its traceback still reaches the user.

The rule is structural (which stream, and whether a line is redrawn) so that a new third-party
warning stays off the console without a pattern for it.
"""
from __future__ import annotations

import codecs
import re
import threading
from pathlib import Path
from typing import IO, Optional

THIRD_PARTY_STDOUT: tuple[re.Pattern[str], ...] = (
    re.compile(r"\s*$"),
    re.compile(r" > number of parameters on "),
    re.compile(r"Success: All tensors from the original checkpoint were written"),
)
"""Lines that libraries print to stdout on every stage, kept from the console (they stay in the log):
blank lines (libraries open their messages with one), megatron-core's parameter count per model build,
and Megatron-Bridge's check after each Hugging Face save (a failed one prints "Error: ..." or raises)."""


_SEPARATORS = re.compile(r"([\r\n])")


def is_third_party(line: str) -> bool:
    """Whether a stdout line is one of `THIRD_PARTY_STDOUT`."""
    return any(pattern.match(line) for pattern in THIRD_PARTY_STDOUT)


class Console:
    """The user's terminal, shared by the pumps of a stage's stdout and stderr: whole lines, and
    progress redraws that overwrite the current line until a whole line or the display's end."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self._lock = threading.Lock()
        self._open: Optional[str] = None
        """The text of the redraw line the cursor is on; None at the start of a line."""

    def _close_redraw(self) -> None:
        if self._open is not None:
            self.stream.write("\n" if self._open.strip() else "\r")
            self._open = None

    def line(self, text: str) -> None:
        with self._lock:
            self._close_redraw()
            self.stream.write(text + "\n")
            self.stream.flush()

    def redraw(self, text: str) -> None:
        with self._lock:
            if text != self._open:
                self.stream.write("\r" + text)
                self.stream.flush()
                self._open = text

    def end_redraw(self) -> None:
        with self._lock:
            self._close_redraw()
            self.stream.flush()


class Log:
    """A stage's log file (appended to; None: no log), written by both pumps; every line is flushed,
    so a killed stage keeps what it printed."""

    def __init__(self, path: Optional[Path]) -> None:
        self._fh: Optional[IO[str]] = open(path, "a") if path is not None else None  # noqa: SIM115 (close())
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.write(text + "\n")
                self._fh.flush()

    def close(self) -> None:
        """Stop writing (a pump still reading a stray grandchild's output writes nothing more)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


class StreamSplitter:
    """One stream of a stage process, cut into whole lines and in-place redraws, each sent where the
    module docstring says.

    A redraw is text after a carriage return, up to the next carriage return or newline, or to the
    end of the write that carried it (tqdm writes `\\r` + bar without a separator after it, and
    whatever the process writes next starts a new line of its own).
    """

    def __init__(self, console: Console, log: Log, lines_to_console: bool) -> None:
        self.console = console
        self.log = log
        self.lines_to_console = lines_to_console
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._text = ""
        self._in_redraw = False
        """Whether `_text` is a redraw (it followed a carriage return)."""
        self._after_redraw = False
        """Whether a redraw was cut at the end of a write: a newline now ends the display."""
        self._last_frame: Optional[str] = None
        """The display's latest frame, not yet in the log."""
        self._showing = False
        """Whether this stream's display is the console's open redraw line."""

    def feed(self, data: bytes) -> None:
        """One read from the pipe (usually one write of the process)."""
        self._consume(self._decoder.decode(data))
        if self._in_redraw and self._text:
            self._show_frame(self._text)
            self._text, self._in_redraw, self._after_redraw = "", False, True

    def close(self) -> None:
        """End of the stream: what is left is logged (a bar cut off by a crash keeps its last frame)."""
        self._consume(self._decoder.decode(b"", final=True))
        if self._in_redraw:
            self._show_frame(self._text)
        elif self._text:
            self._line(self._text)
        self._end_display()

    def _consume(self, chars: str) -> None:
        for piece in _SEPARATORS.split(chars):
            if piece in ("\r", "\n"):
                self._cut(redraw_follows=piece == "\r")
            else:
                self._text += piece

    def _cut(self, redraw_follows: bool) -> None:
        """The text so far ends at a carriage return (`redraw_follows`) or a newline."""
        text, in_redraw, after_redraw = self._text, self._in_redraw, self._after_redraw
        self._text, self._in_redraw, self._after_redraw = "", redraw_follows, False
        if in_redraw:
            self._show_frame(text)
            if not redraw_follows:
                self._end_display()
        elif after_redraw and not text and not redraw_follows:
            self._end_display()
        elif text or not redraw_follows:
            self._line(text)

    def _show_frame(self, text: str) -> None:
        if not text:
            return
        self._last_frame = text
        self._showing = True
        self.console.redraw(text)

    def _log_frame(self) -> None:
        if self._last_frame is not None and self._last_frame.strip():
            self.log.line(self._last_frame)
        self._last_frame = None

    def _end_display(self) -> None:
        self._log_frame()
        if self._showing:
            self.console.end_redraw()
            self._showing = False

    def _line(self, text: str) -> None:
        self._log_frame()
        self.log.line(text)
        if self.lines_to_console and not is_third_party(text):
            self.console.line(text)


def pump(stream: IO[bytes], splitter: StreamSplitter) -> None:
    """Read a child's pipe until EOF into `splitter`, then close it (run in a thread per stream)."""
    try:
        while True:
            data = stream.read1(65536)  # type: ignore[attr-defined]  # what is there now: bars show live
            if not data:
                break
            splitter.feed(data)
    finally:
        splitter.close()
        stream.close()
