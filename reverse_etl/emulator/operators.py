"""Custom attribute writes that are not plain scalars: arrays and their ``add``/``remove``, nested objects and
``_merge_objects``, arrays of objects with ``$add``/``$remove``/``$update``, ``{"inc": n}``, ``{"$time": ...}``
[braze-api.md 1.4], each with the data points Braze bills for it [3.5]. Pure functions.
"""

from __future__ import annotations

from typing import Any

from . import values as v
from .values import Invalid


def custom_value(name: str, value: Any, current: Any, merge: bool, array_max: int) -> tuple[Any, int]:
    """The stored value of a non-scalar custom attribute write and its data points [1.4, 3.5]."""
    if isinstance(value, list):
        if any(isinstance(x, dict) for x in value):
            if not all(isinstance(x, dict) for x in value):
                raise Invalid(f"'{name}' mixes objects and other values; an array of objects holds objects only")
            return [v.nested(x, name) for x in value], 1
        out: list = []
        for x in value:
            if isinstance(x, str):
                v.string(x, name)
            elif isinstance(x, list):
                raise Invalid(f"'{name}' arrays may not contain arrays")
            if x in out:
                out.remove(x)  # de-duplicated: a repeated value moves to the end [1.4]
            out.append(x)
        return out[-array_max:], 1  # setting a whole array is one data point [3.5]
    if isinstance(value, dict):
        if set(value) == {"inc"}:
            if type(value["inc"]) is not int:
                raise Invalid(f"'{name}' inc must be an integer")
            base = current if type(current) is int else 0
            # Incrementing counters do not count against the data cap [1.4, custom_attributes.md "Numbers"].
            return base + value["inc"], 0
        if set(value) and set(value) <= {"add", "remove"}:
            arr = list(current) if isinstance(current, list) else []
            added, removed = value.get("add", []), value.get("remove", [])
            if not isinstance(added, list) or not isinstance(removed, list):
                raise Invalid(f"'{name}' add/remove must be arrays")
            for x in added:
                if isinstance(x, str):
                    v.string(x, name)
                if x in arr:
                    arr.remove(x)
                arr.append(x)
            arr = [x for x in arr if x not in removed]
            # `add` is one data point per value [3.5]; a remove alone is one write (not documented: inferred).
            return arr[-array_max:], len(added) + (1 if removed and not added else 0)
        if set(value) == {"$time"}:
            return v.parse_time(value["$time"], name).isoformat(), 1
        if any(k.startswith("$") for k in value):
            return _object_array_op(name, value, current, merge), 1
        obj = v.nested(value, name)
        points = _count_keys(obj)  # one data point per key sent [3.5]
        if merge and isinstance(current, dict):
            return _deep_merge(dict(current), obj), points
        return obj, points
    raise Invalid(f"'{name}' has an unsupported value type")


def _object_array_op(name: str, value: dict, current: Any, merge: bool) -> list:
    """``$add``, ``$remove`` and ``$update`` on an array of objects [1.4 "Array of objects"]."""
    arr = list(current) if isinstance(current, list) else []
    for op, items in value.items():
        if op not in ("$add", "$remove", "$update") or not isinstance(items, list):
            raise Invalid(f"'{name}' has an unknown operator '{op}'")
        if op == "$add":
            arr.extend(v.nested(x, name) if isinstance(x, dict) else x for x in items)
            continue
        if op == "$update" and not merge:
            raise Invalid(f"'{name}' $update needs \"_merge_objects\": true")
        for item in items:
            if not isinstance(item, dict) or "$identifier_key" not in item:
                raise Invalid(f"'{name}' {op} items need $identifier_key and $identifier_value")
            k, val = item["$identifier_key"], item.get("$identifier_value")
            if op == "$remove":
                arr = [x for x in arr if not (isinstance(x, dict) and x.get(k) == val)]  # removes all matches
            else:
                new = v.nested(item.get("$new_object") or {}, name)
                arr = [_deep_merge(dict(x), new) if isinstance(x, dict) and x.get(k) == val else x for x in arr]
    if v.json_size(arr) > v.MAX_NESTED_BYTES:
        raise Invalid(f"'{name}' would be larger than 100 KB")  # dropped, attribute unchanged [1.4]
    return arr


def _count_keys(obj: Any) -> int:
    if isinstance(obj, dict):
        return sum(1 + (_count_keys(x) if isinstance(x, dict) and set(x) != {"$time"} else 0) for x in obj.values())
    return 1


def _deep_merge(base: dict, extra: dict) -> dict:
    for k, val in extra.items():
        base[k] = _deep_merge(dict(base[k]), val) if isinstance(val, dict) and isinstance(base.get(k), dict) else val
    return base
