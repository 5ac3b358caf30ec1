"""Where each key of a TOML document is written: tomllib returns values without positions.

key_lines(text) maps every key path (tables, keys, array elements; an [[array]] table or an
array element is an int index) to the line it is first written on, so that a validator can say
which line holds a bad value.
"""
from __future__ import annotations

import re
import tomllib
from bisect import bisect_left

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}#\n]*")  # numbers, booleans, dates: up to the next delimiter

KeyPath = tuple[str | int, ...]


def key_lines(text: str) -> dict[KeyPath, int]:
    """Lines (1-based) of the key paths in text, which tomllib must already have accepted."""
    scanner = _Scanner(text)
    try:
        scanner.document()
    except (IndexError, ValueError, AttributeError):
        pass  # a TOML form the scanner misreads costs precision, never the error itself
    return scanner.lines


class _Scanner:
    """Skims TOML that tomllib has already accepted, noting where each key path starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, c in enumerate(text) if c == "\n"]
        self.lines: dict[KeyPath, int] = {}
        self.arrays: dict[KeyPath, int] = {}  # [[array]] path -> tables seen so far

    def mark(self, key_path: KeyPath) -> None:
        line = bisect_left(self.newlines, self.pos) + 1
        for n in range(1, len(key_path) + 1):
            self.lines.setdefault(key_path[:n], line)

    def skip(self, newlines: bool) -> None:
        """Skip blanks and comments, and line ends too when newlines is true."""
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif c in " \t\r" or (newlines and c == "\n"):
                self.pos += 1
            else:
                return

    def document(self) -> None:
        table: KeyPath = ()
        while True:
            self.skip(newlines=True)
            if self.pos >= len(self.text):
                return
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                key = self.key()
                path = self.resolve(key[:-1]) + key[-1:]
                self.arrays[path] = self.arrays.get(path, 0) + 1
                table = path + (self.arrays[path] - 1,)
                self.pos = self.text.index("]]", self.pos) + 2
            elif self.text[self.pos] == "[":
                self.pos += 1
                table = self.resolve(self.key())
                self.pos = self.text.index("]", self.pos) + 1
            else:
                self.key_value(table)
                continue
            self.mark(table)

    def resolve(self, key: tuple[str, ...]) -> KeyPath:
        """A header's path, with the current index after each [[array]] it passes through."""
        out: KeyPath = ()
        for part in key:
            out += (part,)
            if out in self.arrays:
                out += (self.arrays[out] - 1,)
        return out

    def key_value(self, table: KeyPath) -> None:
        path = table + self.key()
        self.mark(path)
        self.pos += 1  # the '='
        self.skip(newlines=False)
        self.value(path)

    def key(self) -> tuple[str, ...]:
        parts = []
        while True:
            self.skip(newlines=False)
            if self.text[self.pos] == '"':
                parts.append(tomllib.loads("k = " + self.string())["k"])
            elif self.text[self.pos] == "'":
                parts.append(self.string()[1:-1])
            else:
                end = _BARE_KEY.match(self.text, self.pos).end()
                parts.append(self.text[self.pos:end])
                self.pos = end
            self.skip(newlines=False)
            if self.text[self.pos] != ".":
                return tuple(parts)
            self.pos += 1

    def value(self, path: KeyPath) -> None:
        c = self.text[self.pos]
        if c in "[{":
            self.pos += 1
            index = 0
            while True:
                self.skip(newlines=True)
                if self.text[self.pos] in "]}":
                    self.pos += 1
                    return
                if self.text[self.pos] == ",":
                    self.pos += 1
                elif c == "{":
                    self.key_value(path)
                else:
                    self.mark(path + (index,))
                    self.value(path + (index,))
                    index += 1
        elif c in "\"'":
            self.string()
        else:
            self.pos = _SCALAR.match(self.text, self.pos).end()

    def string(self) -> str:
        """Step over one string literal of any of the four kinds; return its source text."""
        start, text, quote = self.pos, self.text, self.text[self.pos]
        delimiter = quote * 3 if text.startswith(quote * 3, self.pos) else quote
        self.pos += len(delimiter)
        while not text.startswith(delimiter, self.pos):
            self.pos += 2 if quote == '"' and text[self.pos] == "\\" else 1
        self.pos += len(delimiter)
        for _ in range(len(delimiter) - 1):  # a closing """ may follow up to two quotes
            if text.startswith(quote, self.pos):
                self.pos += 1
        return text[start:self.pos]
