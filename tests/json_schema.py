#!/usr/bin/env python3
"""Validate mtasts --json outputs against the schemas in docs/schema.

  json_schema.py SCHEMA FILE...   validate each FILE ('-': standard input)
  json_schema.py --check DIR      every DIR/*.schema.json is a valid schema

A schema's relative $ref (common.schema.json#/...) is read from the schema's
own directory. Prints one line per error with its JSON path; exits 1 when any
file does not validate, 2 on a usage error or a file that is not JSON.
"""
import glob
import json
import os
import pathlib
import sys

import jsonschema

VALIDATOR = jsonschema.Draft202012Validator


def load(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def validator_for(schema_path):
    schema = load(schema_path)
    VALIDATOR.check_schema(schema)
    directory = os.path.dirname(os.path.abspath(schema_path))
    try:  # jsonschema >= 4.18
        import referencing
        import referencing.jsonschema

        def retrieve(uri):
            return referencing.Resource.from_contents(
                load(os.path.join(directory, os.path.basename(uri))),
                default_specification=referencing.jsonschema.DRAFT202012)

        registry = referencing.Registry(retrieve=retrieve)
        return VALIDATOR(schema, registry=registry)
    except ImportError:  # Debian 12's 4.10
        base = pathlib.Path(os.path.join(directory, os.path.basename(schema_path))).as_uri()
        return VALIDATOR(schema, resolver=jsonschema.RefResolver(base_uri=base, referrer=schema))


def where(error):
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return "$" + path


def main(argv):
    if len(argv) == 3 and argv[1] == "--check":
        bad = 0
        for path in sorted(glob.glob(os.path.join(argv[2], "*.schema.json"))):
            try:
                validator_for(path)
            except (jsonschema.SchemaError, ValueError) as e:
                print(f"{path}: not a valid schema: {e}")
                bad += 1
        return 1 if bad else 0
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    v = validator_for(argv[1])
    failed = 0
    for path in argv[2:]:
        try:
            doc = load(path)
        except ValueError as e:
            print(f"{path}: not JSON: {e}")
            return 2
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:20]:
            print(f"{path}: {where(e)}: {e.message}")
        failed += bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
