import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _no_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name):
    raise ValueError(f"{name} is not a number")


class StrictJSONParser(JSONParser):
    """JSON with exact decimals (no float rounding), no duplicate keys, no NaN/Infinity."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        raw = stream.read() if stream is not None else b""
        if not raw:
            return {}
        try:
            return json.loads(
                raw.decode(encoding),
                parse_float=Decimal,
                object_pairs_hook=_no_duplicates,
                parse_constant=_no_constants,
            )
        except UnicodeDecodeError as exc:
            raise ParseError(f"Request body is not valid {encoding}: byte {exc.start}.") from None
        except json.JSONDecodeError as exc:
            raise ParseError(f"Malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}.") from None
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"Malformed JSON: {exc}.") from None
