"""The command line's argument parsing: one-line errors, checked numbers.

argparse reports a bad option with the whole usage block and nothing about
the accepted values; here every parse error is one line naming the option,
what was given and what is expected, and ``--help`` shows each default.
"""

import argparse
import math
import textwrap

__all__ = ["CommandParser", "HelpFormatter", "integer", "number", "price_pairs",
           "shares"]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keep descriptions as written; end each option's help with its default.

    Options whose default is ``None`` or ``False`` (absent unless given)
    show none, and neither does a help text that already names it. Lines
    never break inside a hyphenated name (``tfidf-logreg``).
    """

    def _split_lines(self, text, width):
        text = self._whitespace_matcher.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False)

    def _get_help_string(self, action):
        help_ = action.help or ""
        default = action.default
        if (
            action.option_strings
            and "default" not in help_
            and not any(default is unset for unset in (None, False, argparse.SUPPRESS))
        ):
            help_ += " (default: %(default)s)"
        return help_


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser that reports a parse error in one line on stderr."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def integer(minimum, maximum=None, *, also=()):
    """An argparse type: an integer in ``[minimum, maximum]`` (or in ``also``).

    >>> integer(1)("25")
    25
    >>> integer(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected an integer >= 1, got '0'
    """
    expected = (f"an integer >= {minimum}" if maximum is None
                else f"an integer from {minimum} to {maximum}")
    if also:
        expected += "".join(f" or {value}" for value in also)

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not (value in also or minimum <= value and (
                maximum is None or value <= maximum)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(minimum, maximum=math.inf, *, include_maximum=True,
           include_minimum=True):
    """An argparse type: a finite number in ``[minimum, maximum]``.

    ``include_maximum=False`` excludes the upper bound (a share below 1),
    ``include_minimum=False`` the lower one (an accuracy above 0).

    >>> number(0, 1, include_maximum=False)("0.2")
    0.2
    >>> number(0, 1, include_maximum=False)("1")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number in [0, 1), got '1'
    >>> number(0, 1, include_minimum=False)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a number in (0, 1], got '0'
    """
    if maximum == math.inf:
        expected = f"a number {'>=' if include_minimum else '>'} {minimum:g}"
    else:
        bracket = "]" if include_maximum else ")"
        opening = "[" if include_minimum else "("
        expected = f"a number in {opening}{minimum:g}, {maximum:g}{bracket}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        below_maximum = value <= maximum if include_maximum else value < maximum
        above_minimum = minimum <= value if include_minimum else minimum < value
        if not (math.isfinite(value) and above_minimum and below_maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def price_pairs(text):
    """An argparse type: ``IN,OUT`` USD per million input and output tokens,
    or one such pair per ``openai`` stage of a cascade (``IN,OUT,IN,OUT``).

    >>> price_pairs("0.4,1.6")
    (0.4, 1.6)
    >>> price_pairs("0,0,2,8")
    (0.0, 0.0, 2.0, 8.0)
    >>> price_pairs("free")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected IN,OUT (USD per million tokens), got 'free'
    """
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or len(values) % 2 or not all(
            math.isfinite(v) and v >= 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected IN,OUT (USD per million tokens), got {text!r}")
    return values


def shares(text):
    """An argparse type: a number in [0, 1], or a comma list of them (one per
    stage of a cascade but the last), normalised.

    >>> shares("0.8")
    '0.8'
    >>> shares("0.70, 0.9")
    '0.7,0.9'
    >>> shares("0.8,high")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected numbers in [0, 1], got '0.8,high'
    """
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 <= v <= 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected numbers in [0, 1], got {text!r}")
    return ",".join(f"{v:g}" for v in values)
