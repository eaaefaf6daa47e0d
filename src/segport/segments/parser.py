"""The text form of segment rules, parsed into the model with errors that point at the place in the text.

    country = "CA" and lifetime_value >= 500
    (vip = true or orders between 2 and 10) and email is not empty
    city in ("Toronto", "Ottawa") and last_name starts with "Mc"
    "VIP customers" union "Ontario customers"          (a combination of existing segments)

Keywords are case-insensitive; text values go in double quotes; dates are written "2025-01-31".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segport.errors import InvalidInput
from segport.segments.model import (
    LARGEST_NUMBER,
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    MAX_VALUE_LENGTH,
    Combination,
    Condition,
    Group,
    Scalar,
)

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"?)
    | (?P<number>-?\d+(?:\.\d+)?(?![\w.]))
    | (?P<op><=|>=|!=|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<junk>\S)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int

    @property
    def word(self) -> str:
        return self.text.lower() if self.kind == "word" else ""


# Around the place a rule error points at, this much of the rule is shown (a long rule is not echoed whole).
SHOWN_AROUND = 40


class SegmentSyntaxError(InvalidInput):
    def __init__(self, source: str, start: int, end: int, problem: str, hint: str = "") -> None:
        first = max(0, start - SHOWN_AROUND)
        last = min(len(source), max(end, start + 1) + SHOWN_AROUND)
        shown = ("…" if first else "") + source[first:last] + ("…" if last < len(source) else "")
        shown = "".join(" " if _control(character) or character in "\n\r\t" else character for character in shown)
        width = max(1, min(end, last) - start)
        pointer = " " * (start - first + (1 if first else 0)) + "^" * width
        super().__init__(f"{problem} (at column {start + 1}):\n  {shown}\n  {pointer}", hint=hint)
        self.start = start
        self.end = end
        self.problem = problem


@dataclass
class Span:
    field: tuple[int, int]
    value: tuple[int, int]


class Parser:
    def __init__(self, source: str) -> None:
        if len(source) > MAX_RULE_LENGTH:
            raise InvalidInput(
                f"The rule is {len(source):,} characters long; segport takes rules of up to {MAX_RULE_LENGTH:,}.",
                hint="Split it into segments and combine them, or use 'in (...)' for lists of values.",
            )
        control = next((index for index, character in enumerate(source) if _control(character)), None)
        if control is not None:
            raise SegmentSyntaxError(
                source,
                control,
                control + 1,
                f"The rule holds a control character ({source[control]!r})",
                "Type the rule again; tabs and line breaks are fine between its parts.",
            )
        self.source = source
        self.tokens = self._tokenize(source)
        self.position = 0
        self.depth = 0
        self.spans: dict[int, Span] = {}  # id(condition) -> where its field and value are in the text

    def _tokenize(self, source: str) -> list[Token]:
        tokens = []
        for match in _TOKEN.finditer(source):
            kind = match.lastgroup or "junk"
            text = match.group(kind)
            start, end = match.start(kind), match.end(kind)
            if kind == "junk":
                raise SegmentSyntaxError(
                    source, start, end, f"Unexpected character {text!r}", "Text values go in double quotes."
                )
            if kind == "string" and (len(text) < 2 or not text.endswith('"') or _escaped_end(text)):
                hint = (
                    "A backslash before a quote makes it part of the text. To end a value with a backslash, write "
                    'two: "C:\\\\"'
                    if text.endswith('\\"')
                    else "Close the value with a double quote."
                )
                raise SegmentSyntaxError(source, start, len(source), "This text value has no closing quote", hint)
            if kind == "string" and len(text) - 2 > MAX_VALUE_LENGTH:
                raise SegmentSyntaxError(
                    source, start, end, f"This text value is longer than {MAX_VALUE_LENGTH:,} characters"
                )
            if kind == "number":
                _check_number(source, start, end, text)
            tokens.append(Token(kind, text, start, end))
        return tokens

    # -- helpers -------------------------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            end = len(self.source)
            raise SegmentSyntaxError(self.source, end, end + 1, "The rule ends too early")
        self.position += 1
        return token

    def expect_word(self, *words: str) -> Token:
        token = self.take()
        if token.word not in words:
            raise SegmentSyntaxError(
                self.source,
                token.start,
                token.end,
                f"Expected {' or '.join(repr(w) for w in words)}, found {token.text!r}",
            )
        return token

    def expect_punct(self, mark: str) -> Token:
        token = self.take()
        if token.text != mark:
            raise SegmentSyntaxError(self.source, token.start, token.end, f"Expected {mark!r}, found {token.text!r}")
        return token

    # -- grammar -------------------------------------------------------------------------------------------

    def parse(self) -> Group | Combination:
        if not self.tokens:
            raise SegmentSyntaxError(
                self.source, 0, 1, "The rule is empty", 'Write a rule such as: country = "CA" and lifetime_value >= 500'
            )
        rule: Group | Combination
        if self.tokens[0].kind == "string":
            rule = self.combination()
        else:
            parsed = self.or_expression()
            rule = parsed if isinstance(parsed, Group) else Group(join="and", conditions=[parsed])
        leftover = self.peek()
        if leftover is not None:
            raise SegmentSyntaxError(
                self.source,
                leftover.start,
                leftover.end,
                f"Unexpected {leftover.text!r}",
                "Join conditions with 'and' or 'or'.",
            )
        return rule

    def combination(self) -> Combination:
        names = [_unquote(self.take().text)]
        operator: str | None = None
        while self.peek() is not None:
            token = self.take()
            if token.word not in ("union", "intersect", "except"):
                raise SegmentSyntaxError(
                    self.source, token.start, token.end, f"Expected union, intersect or except, found {token.text!r}"
                )
            if operator is not None and token.word != operator:
                raise SegmentSyntaxError(
                    self.source,
                    token.start,
                    token.end,
                    f"Use one operator per combined segment, not {operator} and {token.word}",
                    "Create a segment for the inner combination, then combine that.",
                )
            operator = token.word
            name = self.take()
            if name.kind != "string":
                raise SegmentSyntaxError(self.source, name.start, name.end, "Expected a segment name in quotes")
            names.append(_unquote(name.text))
        if operator is None:
            raise SegmentSyntaxError(
                self.source,
                0,
                len(self.source),
                "A combination needs two or more segments",
                'Write: "Segment A" union "Segment B"',
            )
        return Combination(operator=operator, segments=names)

    def or_expression(self) -> Group | Condition:
        items = [self.and_expression()]
        while (token := self.peek()) is not None and token.word == "or":
            self.take()
            items.append(self.and_expression())
        return items[0] if len(items) == 1 else Group(join="or", conditions=items)

    def and_expression(self) -> Group | Condition:
        items = [self.primary()]
        while (token := self.peek()) is not None and token.word == "and":
            self.take()
            items.append(self.primary())
        return items[0] if len(items) == 1 else Group(join="and", conditions=items)

    def primary(self) -> Group | Condition:
        token = self.peek()
        if token is not None and token.text == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise SegmentSyntaxError(
                    self.source,
                    token.start,
                    token.end,
                    f"Parentheses are nested more than {MAX_DEPTH} deep",
                    "Simplify the rule, or split it into segments and combine them.",
                )
            self.take()
            inner = self.or_expression()
            self.expect_punct(")")
            self.depth -= 1
            return inner if isinstance(inner, Group) else Group(join="and", conditions=[inner])
        return self.condition()

    def condition(self) -> Condition:
        field = self.take()
        if field.kind != "word":
            raise SegmentSyntaxError(
                self.source, field.start, field.end, f"Expected a field name, found {field.text!r}"
            )
        operator_token = self.take()
        word = operator_token.word
        start_value = self.peek()
        value: Scalar | list[Scalar] | None
        if operator_token.kind == "op":
            operator = operator_token.text
            value = self.value()
        elif word == "in" or (word == "not" and self.expect_word("in")):
            operator = "in" if word == "in" else "not in"
            value = self.value_list()
        elif word in ("contains",):
            operator, value = "contains", self.value()
        elif word in ("starts", "ends"):
            self.expect_word("with")
            operator, value = f"{word} with", self.value()
        elif word == "is":
            negated = (next_token := self.peek()) is not None and next_token.word == "not"
            if negated:
                self.take()
            self.expect_word("empty")
            operator, value = ("is not empty" if negated else "is empty"), None
        elif word == "between":
            low = self.value()
            self.expect_word("and")
            operator, value = "between", [low, self.value()]
        else:
            raise SegmentSyntaxError(
                self.source,
                operator_token.start,
                operator_token.end,
                f"Unknown operator {operator_token.text!r}",
                "Use =, !=, <, <=, >, >=, in, not in, contains, starts with, ends with, is empty, is not empty "
                "or between.",
            )
        last = self.tokens[self.position - 1]
        condition = Condition(field=field.text, operator=operator, value=value)
        value_start = start_value.start if start_value is not None else last.start
        self.spans[id(condition)] = Span((field.start, field.end), (value_start, last.end))
        return condition

    def value(self) -> Scalar:
        token = self.take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.word in ("true", "false"):
            return token.word == "true"
        raise SegmentSyntaxError(
            self.source,
            token.start,
            token.end,
            f"Expected a value, found {token.text!r}",
            'Text values go in double quotes, e.g. "CA".',
        )

    def value_list(self) -> list[Scalar]:
        self.expect_punct("(")
        values = [self.value()]
        while (token := self.peek()) is not None and token.text == ",":
            self.take()
            values.append(self.value())
        self.expect_punct(")")
        return values


def _control(character: str) -> bool:
    return (ord(character) < 32 and character not in "\t\n\r") or 127 <= ord(character) < 160


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _escaped_end(text: str) -> bool:
    """Whether the closing quote of a text value is escaped (an odd number of backslashes before it)."""
    backslashes = len(text) - 1 - len(text[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def _check_number(source: str, start: int, end: int, text: str) -> None:
    whole = text.lstrip("-").split(".")[0].lstrip("0")
    if len(whole) > len(str(LARGEST_NUMBER)) or ("." not in text and abs(int(text)) > LARGEST_NUMBER):
        raise SegmentSyntaxError(
            source,
            start,
            end,
            f"This number is out of range: segport compares numbers up to {LARGEST_NUMBER:,} either way",
            "Check the number; for a code or an identifier, compare the field as text in double quotes.",
        )


def parse_rule(source: str) -> tuple[Group | Combination, Parser]:
    """The rule model for a text, and the parser (which knows where each condition sits in the text)."""
    parser = Parser(source)
    return parser.parse(), parser
