#!/usr/bin/env python3
"""Checks the links of the generated API docs, as docs.rs will serve them.

Run after `cargo doc --no-deps`. Every relative link in txmanager's HTML pages
must resolve to a file that rustdoc generated (so a link into the repository,
such as `docs/modes.md` or `../README.md`, fails: docs.rs has no such file),
and every `#fragment` into a generated page must name an id on that page.
External (http, https) links are not fetched.
"""
import html.parser
import pathlib
import sys
import urllib.parse

# Links that other crates' docs bring into our pages (blanket trait impls),
# dead on docs.rs too, and not ours to fix: tracing's `WithSubscriber`.
FOREIGN = {"dispatcher#setting-the-default-subscriber"}

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/doc")
CRATES = sys.argv[2:] or ["txmanager"]


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])


def parse(path, cache={}):
    if path not in cache:
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


bad, checked = [], 0
for crate in CRATES:
    pages = sorted((ROOT / crate).rglob("*.html"))
    if not pages:
        sys.exit(f"no pages under {ROOT / crate}: run cargo doc first")
    for page_path in pages:
        for href in parse(page_path).links:
            url = urllib.parse.urlsplit(href)
            if url.scheme or href.startswith("//") or href in FOREIGN:
                continue
            checked += 1
            target = (page_path.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page_path
            if url.path.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                bad.append(f"{page_path.relative_to(ROOT)}: dead link {href}")
            elif (
                url.fragment
                and "/src/" not in target.as_posix()  # line ranges, resolved by script
                and url.fragment not in parse(target).ids
            ):
                bad.append(f"{page_path.relative_to(ROOT)}: no #{url.fragment} in {href}")

for line in bad:
    print(line)
print(f"{checked} relative links checked, {len(bad)} dead")
sys.exit(1 if bad else 0)
