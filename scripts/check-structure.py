#!/usr/bin/env python3
"""Checks the shape of the source tree (ctest `structure_check`, label unit):

1. Layering (STYLE habit 17). Every folder that CMake declares as a layer (brook_layer / brook_library in the
   top-level CMakeLists.txt; the build writes them to <build>/layers.txt) may include only its own headers and
   those of the layers its target links directly. Test code (files named *_test.cc, and files under a tests/
   folder) may include the whole closure of its layer's dependencies, the layer's own testing/ folder and the
   repository's tests/ harness. Protobuf headers (brook/...) belong to the proto layer.
2. Size of the node's code (issue 13's measure): no file under server/ over 500 lines, no function over 80.

Prints every violation with file and line and exits 1 if there is any.
Usage: check-structure.py --build BUILD_DIR [--root SOURCE_DIR]
"""

import argparse
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
SIZE_CHECKED = "server/"
TOP_FOLDERS = ("server/", "raft/", "storage/", "client/", "tests/", "proto/")


def read_layers(build_dir):
    """folder -> set of target names it is; target -> (folder, [direct dependency targets])."""
    folders, targets = {}, {}
    with open(os.path.join(build_dir, "layers.txt")) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            folder, target, deps = parts[0], parts[1], parts[2:]
            folders.setdefault(folder, set()).add(target)
            targets[target] = (folder, deps)
    return folders, targets


def owning_folder(path, folders):
    """The longest declared folder that contains `path`, or None."""
    best = None
    for folder in folders:
        if path == folder or path.startswith(folder + "/"):
            if best is None or len(folder) > len(best):
                best = folder
    return best


def include_folder(include, folders):
    if include.startswith("brook/"):
        return "proto"
    return owning_folder(include, folders)


def allowed_folders(folder, folders, targets, transitive):
    allowed = {folder}
    pending = [d for t in folders[folder] for d in targets[t][1]]
    seen = set()
    while pending:
        dep = pending.pop()
        if dep in seen or dep not in targets:
            continue
        seen.add(dep)
        allowed.add(targets[dep][0])
        if transitive:
            pending.extend(targets[dep][1])
    return allowed


def is_test_code(path):
    name = os.path.basename(path)
    return name.endswith("_test.cc") or "/tests/" in "/" + path


def check_layering(root, files, folders, targets):
    errors = []
    include_re = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for path in files:
        folder = owning_folder(path, folders)
        if folder is None:
            continue
        test = is_test_code(path)
        allowed = allowed_folders(folder, folders, targets, transitive=test)
        with open(os.path.join(root, path), errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = include_re.match(line)
                if not m:
                    continue
                include = m.group(1)
                target = include_folder(include, folders)
                if target is None:
                    if include.startswith(TOP_FOLDERS) and not (test and include.startswith("tests/")):
                        errors.append(f"{path}:{number}: includes {include}, which belongs to no declared layer")
                    continue
                if target in allowed:
                    continue
                if test and (target.startswith(folder + "/testing") or target == folder + "/testing"):
                    continue
                errors.append(f"{path}:{number}: {folder} may not include {include} ({target}); it may include "
                              f"{', '.join(sorted(allowed))}")
    return errors


def digit_separator(text, i):
    """Whether the ' at text[i] separates digits (1'000'000) rather than opening a character literal: the token
    before it is a number (starts with a digit; u8'x' and L'x' start with a letter)."""
    j = i
    while j > 0 and (text[j - 1].isalnum() or text[j - 1] in "'_"):
        j -= 1
    return j < i and text[j].isdigit()


def strip_code(text):
    """Blanks comments, string and character literals (keeping newlines) so braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "'" and digit_separator(text, i):
            out.append(c)
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


CONTAINER_RE = re.compile(r"\b(namespace|class|struct|union|enum)\b[^(]*$")
CONTROL_RE = re.compile(r"^\s*(if|for|while|switch|do|else|try|catch)\b")


def functions(text):
    """(name, first line, last line) of every function body that is not inside another function. A function
    starts at the first line of its signature (after the previous declaration or brace) and ends at its brace."""
    code = strip_code(text)
    line_of = []
    line = 1
    for c in code:
        line_of.append(line)
        if c == "\n":
            line += 1
    stack = []  # per open brace: (kind, first line, name); kind is container, function or other
    header_start = 0
    found = []

    def in_function():
        return any(kind == "function" for kind, _, _ in stack)

    for i, c in enumerate(code):
        if c == ";" and not in_function():
            header_start = i + 1
        elif c == "{":
            header = code[header_start:i]
            sig = header.strip()
            if in_function():
                kind = "other"
            elif CONTAINER_RE.search(sig) or sig.endswith('extern "C"'):
                kind = "container"
            elif "(" in sig and not CONTROL_RE.match(sig) and not sig.endswith("="):
                kind = "function"
            else:
                kind = "other"
            start = header_start + (len(header) - len(header.lstrip())) if sig else i
            names = re.findall(r"([~\w:]+)\s*\(", sig)
            stack.append((kind, line_of[start], names[0] if names else "?"))
            if kind != "function" and not in_function():
                header_start = i + 1
        elif c == "}":
            if stack:
                kind, first, name = stack.pop()
                if kind == "function":
                    found.append((name, first, line_of[i]))
            if not in_function():
                header_start = i + 1
    return found


def check_sizes(root, files):
    errors = []
    for path in files:
        if not path.startswith(SIZE_CHECKED) or not path.endswith((".h", ".cc")):
            continue
        with open(os.path.join(root, path), errors="replace") as f:
            text = f.read()
        lines = text.count("\n")
        if lines > MAX_FILE_LINES:
            errors.append(f"{path}: {lines} lines; a file of server/ holds at most {MAX_FILE_LINES}: split it")
        for name, first, last in functions(text):
            length = last - first + 1
            if length > MAX_FUNCTION_LINES:
                errors.append(f"{path}:{first}: function {name} is {length} lines; at most {MAX_FUNCTION_LINES}")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", required=True, help="the CMake build directory (holds layers.txt)")
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    parser.add_argument("--functions", metavar="FILE", help="print the functions found in FILE and exit")
    args = parser.parse_args()
    if args.functions:
        with open(args.functions) as f:
            for name, first, last in functions(f.read()):
                print(f"{first:5}-{last:5} {last - first + 1:4} {name}")
        return 0
    root = os.path.abspath(args.root)
    files = subprocess.check_output(["git", "ls-files", "*.h", "*.cc"], cwd=root, text=True).split()
    folders, targets = read_layers(args.build)
    errors = check_layering(root, files, folders, targets) + check_sizes(root, files)
    for e in errors:
        print(e)
    layered = sum(1 for p in files if owning_folder(p, folders))
    print(f"check-structure: {layered} files in {len(folders)} layers, {len(errors)} violations")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
