#!/usr/bin/env python3
# tools/filemap.py - the map of source files in HACKING.md ("File map"), made from each file's
# purpose comment (the first sentence after "name.c - "), so the map says what the files say.
# Usage: tools/filemap.py [--check]  (rewrites HACKING.md between its markers, or with --check
# exits 1 when the map there is not current).
import pathlib, re, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
files = subprocess.run(["git", "ls-files", "src/*.c"], cwd=root, capture_output=True, text=True,
                       check=True).stdout.split()


def purpose(path):
    text = (root / path).read_text(errors="replace")
    m = re.search(r"/\*(.*?)\*/", text[text.find("\n") + 1:], re.S)
    if not m:
        return ""
    body = " ".join(l.strip().lstrip("*").strip() for l in m.group(1).splitlines())
    body = re.sub(r"\s+", " ", body).strip()
    body = re.sub(r"^[\w./]+\.c\s*[-:–—]+\s*", "", body)
    # the first sentence: up to ". " or ":" ending a clause list, at most 160 characters
    s = re.split(r"(?<=[a-z0-9)\]`'\"])\.\s|:\s*$", body)[0].rstrip(".")
    if len(s) > 160:
        s = s[:157].rsplit(" ", 1)[0] + "..."
    return s.replace("|", "\\|")


rows = ["| file | what it holds |", "|---|---|"]
for f in sorted(files):
    rows.append(f"| `{f}` | {purpose(f)} |")
start, end = "<!-- filemap:start -->", "<!-- filemap:end -->"
block = start + "\n" + "\n".join(rows) + "\n" + end
doc = (root / "HACKING.md").read_text()
if start in doc:
    new = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
else:
    new = doc.rstrip("\n") + "\n\n## File map\n\nEvery source file and its purpose comment " \
        "(`tools/filemap.py` writes this table; run it after adding a file).\n\n" + block + "\n"
if "--check" in sys.argv:
    sys.exit(0 if new == doc else 1)
(root / "HACKING.md").write_text(new)
