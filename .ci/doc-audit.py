#!/usr/bin/env python3
"""Every public function and method has an example in its docs, and every one that returns a
`Result` an `# Errors` section. Prints each that lacks one; exits non-zero if any does."""
import pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent / "src"
missing = []
for path in sorted(root.rglob("*.rs")):
    lines = path.read_text().splitlines()
    in_tests = False
    for i, line in enumerate(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            in_tests = True
        m = re.match(r"\s*pub (const )?(unsafe )?fn (\w+)", line)
        if not m or in_tests:
            continue
        # The doc comment above (skipping attributes).
        j, doc = i - 1, []
        while j >= 0 and (lines[j].strip().startswith("///") or lines[j].strip().startswith("#[")):
            if lines[j].strip().startswith("///"):
                doc.append(lines[j])
            j -= 1
        text = "\n".join(doc)
        # A trait impl's methods take the trait's docs (only indented functions are in impls).
        k = i - 1
        while line.startswith(" ") and k >= 0 and not re.match(r"\s*(impl|pub trait|trait|mod)\b", lines[k]):
            k -= 1
        if line.startswith(" ") and k >= 0 and re.match(r"\s*impl\b.* for ", lines[k]):
            continue
        sig = line
        n = i
        while "{" not in sig and ";" not in sig and n + 1 < len(lines):
            n += 1
            sig += lines[n]
        where = f"{path.relative_to(root.parent)}:{i + 1} {m.group(3)}"
        if "```" not in text:
            missing.append(f"{where}: no example")
        if "-> Result" in sig and "# Errors" not in text:
            missing.append(f"{where}: no # Errors")
for m in missing:
    print(m)
print(f"{len(missing)} missing", file=sys.stderr)
sys.exit(1 if missing else 0)
