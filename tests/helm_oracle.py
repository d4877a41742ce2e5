"""Helm's own engine (PyPI's helm-python-sdk: Helm's Go code as a C
library, offline) as the reference for matrix's chart rendering.

  helm_oracle.py FOLDER             the image list of an application folder
                                    (or of a folder that is a chart) as JSON
  helm_oracle.py --render FOLDER    every chart's rendered templates as JSON,
                                    {chart folder: {template: text}}; lines
                                    that differ between two renders (random,
                                    time, crypto) are replaced by NONDET
  helm_oracle.py --parity DIR --matrix BIN [--json]
                                    every chart folder of DIR rendered by Helm
                                    and by `BIN app images|template`: prints
                                    agreed/total for image lists and rendered
                                    documents, and the first difference per
                                    chart

Charts under charts/ are rendered with charts/<chart name>.values.yaml as
values when it exists and release name `dryrun`; then the rules `sealos
build` applies: the `image:` line scan of every rendered file and of
manifests/*.yaml|yml|tmpl, the lines of images/shim/*, merged, sorted,
de-duplicated, minus .sealignore.
"""
import json
import os
import re
import resource
import subprocess
import sys
import time

import yaml
from helm_python import Chart

REFERENCE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")
NONDET = "\u0000NONDET"


def scan(text, found):
    for line in text.splitlines():
        trimmed = line.strip()
        if trimmed.startswith("#") or "image:" not in trimmed:
            continue
        value = trimmed.split("image:", 1)[1].strip().strip("\"'").strip()
        if value and REFERENCE.match(value):
            found.add(value)


def charts_of(folder):
    """(label, chart path, values file or None) of every chart of a folder."""
    if os.path.isfile(os.path.join(folder, "Chart.yaml")):
        return [(".", folder, None)]
    out = []
    charts = os.path.join(folder, "charts")
    if os.path.isdir(charts):
        for name in sorted(os.listdir(charts)):
            path = os.path.join(charts, name)
            is_chart = (os.path.isdir(path) and os.path.isfile(os.path.join(path, "Chart.yaml"))) or name.endswith(".tgz")
            if is_chart:
                out.append(("charts/" + name, path, charts))
    return out


def render_chart(path, values_dir):
    chart = Chart.load(path)
    values = None
    if values_dir:
        values_file = os.path.join(values_dir, chart.name + ".values.yaml")
        if os.path.isfile(values_file):
            with open(values_file) as f:
                values = yaml.safe_load(f) or {}
    return chart.render(values=values, name="dryrun")


def masked(first, second):
    """First render with lines that differ in the second marked NONDET."""
    out = {}
    for name, text in first.items():
        other = second.get(name, "")
        if text == other:
            out[name] = text
            continue
        a, b = text.split("\n"), other.split("\n")
        if len(a) != len(b):
            out[name] = NONDET
            continue
        out[name] = "\n".join(x if x == y else NONDET for x, y in zip(a, b))
    return out


def render_folder(folder):
    """Every chart of a folder rendered twice: (first render, masked render)."""
    first, out = {}, {}
    for label, path, values_dir in charts_of(folder):
        first[label] = render_chart(path, values_dir)
        out[label] = masked(first[label], render_chart(path, values_dir))
    return first, out


def images(folder, rendered=None):
    found = set()
    if rendered is None:
        rendered = {label: render_chart(path, values_dir) for label, path, values_dir in charts_of(folder)}
    for templates in rendered.values():
        for text in templates.values():
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
    return sorted(found - ignore)


def first_line_difference(helm, ours):
    a, b = helm.split("\n"), ours.split("\n")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y and x != NONDET:
            return f"line {i + 1}: helm {x.strip()[:100]!r} matrix {y.strip()[:100]!r}"
    if len(a) != len(b):
        return f"helm has {len(a)} lines, matrix {len(b)}"
    return None


def compare_documents(helm, ours):
    """The first difference between two renders of a folder, or None."""
    for label in sorted(set(helm) | set(ours)):
        h, o = helm.get(label, {}), ours.get(label, {})
        for name in sorted(set(h) | set(o)):
            if name not in o:
                return f"{label}: {name}: only Helm renders it"
            if name not in h:
                return f"{label}: {name}: only matrix renders it"
            if h[name] == NONDET:
                continue
            difference = first_line_difference(h[name], o[name])
            if difference:
                return f"{label}: {name}: {difference}"
    return None


def run_matrix(binary, args):
    """Runs matrix under /usr/bin/time: (status, stdout, stderr, seconds, peak MiB)."""
    started = time.monotonic()
    process = subprocess.run(["/usr/bin/time", "-f", "%M", binary, *args], capture_output=True, text=True)
    seconds = time.monotonic() - started
    lines = process.stderr.strip().split("\n")
    peak = int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else 0.0
    return process.returncode, process.stdout, "\n".join(lines[:-1]), seconds, peak


def parity(folder_of_charts, binary, as_json):
    results = []
    for name in sorted(os.listdir(folder_of_charts)):
        folder = os.path.join(folder_of_charts, name)
        if not os.path.isdir(folder) or not charts_of(folder):
            continue
        result = {"chart": name}
        try:
            first, helm_docs = render_folder(folder)
            helm_images = images(folder, first)
        except Exception as error:  # Helm itself does not render it
            result["helm_error"] = str(error).split("\n")[0][:200]
            results.append(result)
            continue
        status, out, err, seconds, peak = run_matrix(binary, ["app", "images", folder, "--skip-init", "--json"])
        result["seconds"], result["mib"] = round(seconds, 2), round(peak, 1)
        if status != 0:
            result["images"] = False
            result["documents"] = False
            result["difference"] = "matrix fails: " + err.strip().split("\n")[-1][:300]
            results.append(result)
            if not as_json:
                print(f"{name}: MATRIX FAILS ({result['seconds']} s): {result['difference']}", flush=True)
            continue
        ours = [i["image"] for i in json.loads(out)]
        result["images"] = ours == helm_images
        if not result["images"]:
            result["image_difference"] = {"only_helm": sorted(set(helm_images) - set(ours))[:5],
                                          "only_matrix": sorted(set(ours) - set(helm_images))[:5]}
        status, out, err, seconds, peak = run_matrix(binary, ["app", "template", folder, "--skip-init", "--json"])
        result["seconds"] = max(result["seconds"], round(seconds, 2))
        result["mib"] = max(result["mib"], round(peak, 1))
        difference = compare_documents(helm_docs, json.loads(out)) if status == 0 else "matrix template fails: " + err[-300:]
        result["documents"] = difference is None
        if difference:
            result["difference"] = difference
        results.append(result)
        if not as_json:
            mark = ("images ok" if result["images"] else "IMAGES DIFFER") + ", " + ("documents ok" if result["documents"] else "DOCUMENTS DIFFER")
            print(f"{name}: {mark} ({result['seconds']} s, {result['mib']} MiB)", flush=True)
            if not result["images"]:
                print(f"  images: {result['image_difference']}", flush=True)
            if difference:
                print(f"  first difference: {difference}", flush=True)
    rendered = [r for r in results if "helm_error" not in r]
    summary = {
        "charts": len(results),
        "helm_renders": len(rendered),
        "images_agree": sum(1 for r in rendered if r["images"]),
        "documents_agree": sum(1 for r in rendered if r["documents"]),
        "slowest_seconds": max((r.get("seconds", 0) for r in rendered), default=0),
        "largest_mib": max((r.get("mib", 0) for r in rendered), default=0),
    }
    if as_json:
        print(json.dumps({"summary": summary, "charts": results}, indent=1))
    else:
        for r in results:
            if "helm_error" in r:
                print(f"{r['chart']}: Helm does not render it: {r['helm_error']}")
        print(f"image lists agree: {summary['images_agree']}/{summary['helm_renders']}")
        print(f"rendered documents agree: {summary['documents_agree']}/{summary['helm_renders']}")
        print(f"charts Helm does not render: {summary['charts'] - summary['helm_renders']}")
        print(f"slowest: {summary['slowest_seconds']} s, largest: {summary['largest_mib']} MiB")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--render"]:
        print(json.dumps(render_folder(arguments[1])[1]))
    elif arguments[:1] == ["--parity"]:
        binary = arguments[arguments.index("--matrix") + 1]
        parity(arguments[1], binary, "--json" in arguments)
    else:
        print(json.dumps(images(arguments[0])))
