"""msgspec types made from JSON Schemas (the part of JSON Schema ``EVENT_DATA`` uses):
data that msgspec decodes into one of them fits the schema it was made from.

msgspec reads a node's event and checks it in one pass, for about a third of what
parsing it (orjson) and then checking it against the schema (jsonschema_rs) cost;
the schema stays the one description of an event, for the API and the checks alike.
Where msgspec reads JSON otherwise than JSON Schema, the type follows the schema or
is stricter, never looser (``checks`` judges what msgspec refuses by the schema):

- an integer is bounded to an int64: JSON Schema takes any, and orjson could not
  write one past a uint64 again (msgspec bounds no further than an int64);
- a ``number`` is an int or a float, so that an integer stays one;
- a pattern's final ``$`` becomes ``\\Z``: Python's ``$`` also matches before a final
  newline, which JSON Schema's (ECMAScript's) does not.

Fields a schema does not name are dropped, as msgspec drops them; a keyword this
does not know raises SchemaUnsupported, so a schema that gains one is never checked
more loosely than it says.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required, TypedDict, Union

import msgspec

from ..events import Schema

INT_MIN, INT_MAX = -(2 ** 63), 2 ** 63 - 1
_KEYWORDS = frozenset({"type", "properties", "required", "items", "enum", "minimum", "pattern",
                       "additionalProperties", "description"})


class SchemaUnsupported(ValueError):
    """A schema uses what these types cannot say."""


def typed(schema: Schema, name: str) -> Any:
    """The type whose values are the JSON values ``schema`` takes, or fewer of them
    (``name``: what an object's type is called, and its objects' after it)."""
    if unknown := set(schema) - _KEYWORDS:
        raise SchemaUnsupported(f"keywords not supported: {sorted(unknown)}")
    types = schema.get("type")
    if types is None:
        raise SchemaUnsupported("a schema without a type")
    kinds = [_one(json_type, schema, name) for json_type in ([types] if isinstance(types, str) else types)]
    return kinds[0] if len(kinds) == 1 else Union[tuple(kinds)]


def _one(json_type: str, schema: Schema, name: str) -> Any:
    if (json_type != "string" and "pattern" in schema) or (json_type not in ("string", "null") and "enum" in schema):
        raise SchemaUnsupported(f"pattern or enum on a {json_type}")
    if json_type not in ("integer", "number") and "minimum" in schema:
        raise SchemaUnsupported(f"minimum on a {json_type}")
    if json_type == "null":
        if "enum" in schema and None not in schema["enum"]:
            raise SchemaUnsupported("null in type but not in enum")
        return None
    if json_type == "boolean":
        return bool
    if json_type == "integer":
        return Annotated[int, msgspec.Meta(ge=max(schema.get("minimum", INT_MIN), INT_MIN), le=INT_MAX)]
    if json_type == "number":
        minimum = schema.get("minimum")
        whole = _one("integer", schema, name)
        return Union[whole, Annotated[float, msgspec.Meta(ge=minimum)] if minimum is not None else float]
    if json_type == "string":
        if "enum" in schema:
            return Literal[tuple(value for value in schema["enum"] if isinstance(value, str))]
        if "pattern" in schema:
            return Annotated[str, msgspec.Meta(pattern=_anchored(schema["pattern"]))]
        return str
    if json_type == "array":
        if "items" not in schema:
            raise SchemaUnsupported("an array without items")
        return list[typed(schema["items"], name)]  # type: ignore[misc]
    if json_type == "object":
        if "properties" not in schema or schema.get("additionalProperties", False) is not False:
            raise SchemaUnsupported("an object other than one of named properties")
        required = set(schema.get("required", ()))
        fields = {field: (Required if field in required else NotRequired)[typed(value, name + field.title())]
                  for field, value in schema["properties"].items()}
        return TypedDict(name, fields, total=False)  # type: ignore[operator]
    raise SchemaUnsupported(f"type {json_type}")


def _anchored(pattern: str) -> str:
    if "$" in pattern[:-1]:
        raise SchemaUnsupported(f"a $ inside the pattern {pattern}")
    return pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern


def decoder(schema: Schema, name: str) -> msgspec.json.Decoder[Any]:
    """Reads JSON into a value ``schema`` takes (a dict, for an object's), or raises
    msgspec.DecodeError (not JSON) or msgspec.ValidationError (not of that type)."""
    return msgspec.json.Decoder(typed(schema, name))
