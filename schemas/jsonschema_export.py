"""JSON Schema documents for every event type and billing record, for other languages.

`schemas_by_filename()` is pure; `metering schemas export` writes the files to
schemas/json/, and a test checks the committed files are current.
"""

from __future__ import annotations

import json
from typing import Any

from schemas.billing import BILLING_SCHEMAS
from schemas.envelope import SCHEMA_VERSION, CloudEvent
from schemas.events import EVENT_DATA


def _event_schema(event_type: str) -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    data = EVENT_DATA[event_type].model_json_schema()
    defs = data.pop("$defs", {})
    envelope["title"] = f"{event_type} v{SCHEMA_VERSION}"
    envelope["properties"]["type"] = {"const": event_type, "type": "string"}
    envelope["properties"]["data"] = data
    if data.get("required"):  # data with no required field may be left out: {} then
        envelope["required"] = sorted({*envelope.get("required", []), "data"})
    if defs:
        envelope.setdefault("$defs", {}).update(defs)
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return envelope


def event_schema_inline(event_type: str) -> dict[str, Any]:
    """The event type's schema with every `$ref` replaced by its definition (to embed it in
    another document, e.g. the OpenAPI request bodies)."""
    doc = _event_schema(event_type)
    defs = doc.pop("$defs", {})
    doc.pop("$schema", None)

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    out: dict[str, Any] = inline(doc)
    return out


def schemas_by_filename() -> dict[str, str]:
    """File name -> JSON text (sorted keys, trailing newline) for every event type and
    every billing record (`schemas.billing`)."""
    out = {f"cloudevent.v{SCHEMA_VERSION}.json": CloudEvent.model_json_schema()}
    for event_type in sorted(EVENT_DATA):
        out[f"{event_type}.v{SCHEMA_VERSION}.json"] = _event_schema(event_type)
    for name, model in sorted(BILLING_SCHEMAS.items()):
        doc = model.model_json_schema()
        doc["title"] = f"{name} v{SCHEMA_VERSION}"
        doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        out[f"{name}.v{SCHEMA_VERSION}.json"] = doc
    return {name: json.dumps(doc, indent=2, sort_keys=True) + "\n" for name, doc in out.items()}
