#!/usr/bin/env python3
"""Checks txmanager's rust-version against what its dependencies declare.

No older toolchain is installed here, so the MSRV cannot be built. What can be
checked: every dependency the library can pull in (all features, normal
dependencies, resolved by Cargo.lock) declares a rust-version no newer than
txmanager's, and clippy's incompatible_msrv lint (run by .ci/run) refuses std
APIs newer than it. Language features newer than the MSRV are not checked.
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")) + (0,) * (3 - len(text.split(".")))


meta = json.loads(subprocess.run(
    ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
    check=True, capture_output=True, text=True).stdout)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p for p in meta["packages"] if p["name"] == "txmanager")
msrv = version(root["rust_version"])

seen, stack, too_new = set(), [root["id"]], []
while stack:
    node = nodes[stack.pop()]
    for dep in node["deps"]:
        if not any(kind["kind"] is None for kind in dep["dep_kinds"]):
            continue  # dev- and build-dependencies do not bind users
        if dep["pkg"] in seen:
            continue
        seen.add(dep["pkg"])
        stack.append(dep["pkg"])
        package = packages[dep["pkg"]]
        if package.get("rust_version") and version(package["rust_version"]) > msrv:
            too_new.append(f'{package["name"]} {package["version"]} needs Rust {package["rust_version"]}')

for line in too_new:
    print(line)
print(f"txmanager rust-version {root['rust_version']}: {len(seen)} dependencies checked, {len(too_new)} need a newer Rust")
sys.exit(1 if too_new else 0)
