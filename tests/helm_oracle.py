"""The image list of an application folder computed with Helm's own engine.

Charts under charts/ are rendered by PyPI's helm-python-sdk (Helm's Go
engine as a C library, offline), with charts/<chart name>.values.yaml as
values when it exists and release name `dryrun`; then the same rules
`sealos build` applies: the `image:` line scan of every rendered file and of
manifests/*.yaml|yml|tmpl, the lines of images/shim/*, merged, sorted,
de-duplicated, minus .sealignore. Prints a JSON array of images.

Usage: python3 tests/helm_oracle.py FOLDER
"""
import json
import os
import re
import sys

import yaml
from helm_python import Chart

REFERENCE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


def scan(text, found):
    for line in text.splitlines():
        trimmed = line.strip()
        if trimmed.startswith("#") or "image:" not in trimmed:
            continue
        value = trimmed.split("image:", 1)[1].strip().strip("\"'").strip()
        if value and REFERENCE.match(value):
            found.add(value)


def main(folder):
    found = set()
    charts = os.path.join(folder, "charts")
    if os.path.isdir(charts):
        for name in sorted(os.listdir(charts)):
            path = os.path.join(charts, name)
            is_chart = (os.path.isdir(path) and os.path.isfile(os.path.join(path, "Chart.yaml"))) or name.endswith(".tgz")
            if not is_chart:
                continue
            chart = Chart.load(path)
            values_file = os.path.join(charts, chart.name + ".values.yaml")
            values = None
            if os.path.isfile(values_file):
                with open(values_file) as f:
                    values = yaml.safe_load(f) or {}
            for text in chart.render(values=values, name="dryrun").values():
                scan(text, found)
    for sub, exts in (("manifests", (".yaml", ".yml", ".tmpl")),):
        for root, _, files in os.walk(os.path.join(folder, sub)):
            for file in files:
                if file.lower().endswith(exts):
                    with open(os.path.join(root, file)) as f:
                        scan(f.read(), found)
    for root, _, files in os.walk(os.path.join(folder, "images", "shim")):
        for file in files:
            with open(os.path.join(root, file)) as f:
                for line in f:
                    image = line.strip().strip("\"'").strip()
                    if image and not image.startswith("#"):
                        found.add(image)
    ignore = set()
    sealignore = os.path.join(folder, ".sealignore")
    if os.path.isfile(sealignore):
        with open(sealignore) as f:
            ignore = {l.strip() for l in f if l.strip() and not l.strip().startswith("#")}
    print(json.dumps(sorted(found - ignore)))


if __name__ == "__main__":
    main(sys.argv[1])
