"""Text from the repository, made safe to show: credentials masked, values bounded, invisible characters escaped.

Every value a report echoes (a ConfigMap's URL, a waiver's reason, a partial's message, a line of a
rendered diff, a server's refusal quoting a field) was written by a pull request, and ends up in CI
logs, annotations, SARIF and pull-request comments. So, in this order:

- `mask`: the secret part of a credential in text is replaced by `***`: a URL's userinfo
  (`https://user:***@host`, and `https://***@host` when it is a single token), and the value of a
  query or DSN parameter whose name says it is a secret (`password=`, `token=`, `Pwd=...;`,
  `X-Amz-Signature=`, `sig=`).
- `bounded`: a run of more than MAX_VALUE characters without whitespace (one value) keeps its first
  MAX_VALUE characters and says how long it was; a whole text keeps at most MAX_TEXT characters.
- `escape`: C0 and C1 control characters (ESC above all: it drives the reader's terminal), DEL and
  the bidirectional and invisible formatting characters (U+202A-U+202E, U+2066-U+2069, U+200E/F,
  U+061C, U+2028/9, U+FEFF) become visible `\\xNN` / `\\uNNNN` escapes. Newlines and tabs stay
  unless the caller says otherwise.
- `shown`: all three, what a finding's message, note, fix and waiver reason go through (findings.py).
- `log_lines`: for text that lands in a GitHub Actions log (text reports, stderr): no line can start a
  workflow command (`::cmd::`, also after leading blanks, as the runner trims them) and no `##[`
  (the runner's older syntax, matched anywhere in a line).
"""
from __future__ import annotations

import re

MAX_VALUE = 200  # characters of one value (a run without whitespace) shown
MAX_TEXT = 4000  # characters of one message shown
MAX_ERROR = 20000  # characters of an error message shown (it may end with a tool's log tail)
MAX_NAME = 512  # characters of a name or path shown (valid object names have at most 253)
MASK = "***"

# What `escape` rewrites. \n and \t are added by callers that must keep no line breaks (markdown cells do
# their own), so they are not in the base set.
_INVISIBLE = ("\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff")
_ESCAPE = re.compile(f"[{_INVISIBLE}]")
_ESCAPE_ALL = re.compile(f"[{_INVISIBLE}\n\t]")

# scheme://userinfo@ : the userinfo ends at the last '@' before the host's '/', '?' or '#'.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://)([^\s/?#@\"'<>]*(?:@[^\s/?#@\"'<>]*)*)@")
# The words that make a name a secret's: a parameter's, a key's, an environment variable's.
_SECRET_WORDS = (r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|"
                 r"credential|signature|sig|auth)")
# A parameter named like a secret, in a query string (?a=b&c=d), a DSN (a=b c=d, A=b;C=d) or an env line.
_SECRET_PARAM = re.compile(r"(?i)((?:^|(?<=[?&;\s\"'{,(]))[\w.-]*?" + _SECRET_WORDS + r"\s*=\s*)([^&;\s\"'<>]+)")
_SECRET_NAME = re.compile(r"(?i)" + _SECRET_WORDS)
_LONG = re.compile(rf"\S{{{MAX_VALUE + 1},}}")
# Anything any of the steps would change; most texts have none of it and are returned as they are.
_TOUCHED = re.compile(rf"://|=|\S{{{MAX_VALUE + 1}}}|[{_INVISIBLE}]")
_COMMAND_START = re.compile(r"^(\s*)::", re.M)


def _masked_userinfo(m: re.Match[str]) -> str:
    scheme, userinfo = m.group(1), m.group(2)
    if not userinfo:
        return m.group(0)
    user, sep, _ = userinfo.partition(":")
    return f"{scheme}{user}:{MASK}@" if sep and user else f"{scheme}{MASK}@"


def mask(text: str) -> str:
    """`text` with the secret part of every URL userinfo and secret-named parameter replaced by ***."""
    if "://" in text:
        text = _USERINFO.sub(_masked_userinfo, text)
    if "=" in text:
        text = _SECRET_PARAM.sub(lambda m: m.group(1) + MASK, text)
    return text


def secret_name(key: str) -> bool:
    """Whether a key (a YAML key, an env name) says its value is a secret: its value is never shown."""
    return _SECRET_NAME.search(key) is not None


def excerpt(value: str, limit: int = MAX_VALUE) -> str:
    """The first `limit` characters of `value`, and how long it was when it was longer."""
    if len(value) <= limit:
        return value
    return f"{value[:limit]}…({len(value):,} characters)"


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """Each run of more than MAX_VALUE non-blank characters, and the whole text past `limit`, cut."""
    if len(text) > MAX_VALUE:
        text = _LONG.sub(lambda m: excerpt(m.group(0)), text)
    if len(text) > limit:
        text = f"{text[:limit]}…(cut: {len(text):,} characters in all)"
    return text


def _code(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x80 else f"\\u{n:04x}"


def _json_code(ch: str) -> str:
    return f"\\u{ord(ch):04x}"


def escape(text: str, newlines: bool = True) -> str:
    """Control, bidi and invisible formatting characters as visible escapes; with newlines=False, also
    newlines and tabs (for one-line fields: a file path, an object name, a table cell)."""
    pattern = _ESCAPE if newlines else _ESCAPE_ALL
    return pattern.sub(lambda m: _code(m.group(0)), text)


def json_document(text: str) -> str:
    """A JSON document (json.dumps output) with the characters `escape` rewrites written as JSON's own
    \\uNNNN escapes, and `##[` as `#\\u0023[`: printed raw (to a CI log) it shows nothing invisible and
    starts no workflow command, and it parses to the same data."""
    return _ESCAPE.sub(lambda m: _json_code(m.group(0)), text).replace("##[", "#\\u0023[")


def name(text: str) -> str:
    """A name or path on one line: escaped, and cut past MAX_NAME characters (with its length)."""
    return escape(excerpt(text, MAX_NAME), newlines=False)


def shown(text: str, limit: int = MAX_TEXT) -> str:
    """A value echoed to a reader: masked, bounded and escaped (newlines and tabs kept)."""
    if not _TOUCHED.search(text) and len(text) <= limit:
        return text
    return escape(bounded(mask(text), limit))


def one_line(text: str) -> str:
    """A short field (path, name, URL) on one line: masked, bounded, and every control character escaped."""
    return escape(bounded(mask(text)), newlines=False)


def log_lines(text: str, commands: bool = False) -> str:
    """Text printed where a GitHub Actions runner reads it: no line starts a workflow command (unless
    `commands`: the lines are the caller's own commands, whose data is escaped), and no `##[` anywhere."""
    if "::" in text and not commands:
        text = _COMMAND_START.sub(lambda m: f"{m.group(1)}\\::", text)
    return text.replace("##[", "##\\[")


def plural(n: int, word: str) -> str:
    """"1 error", "2 errors": every count a report or message prints."""
    return f"{n} {word}" + ("" if n == 1 else "s")
