#!/usr/bin/env bash
# Prints the absolute path of a working Python 3.12 interpreter.
# A pyenv shim named python3.12 may exist but refuse to run (it only answers
# with PYENV_VERSION set), so every candidate is tried, never trusted by name.
set -u
try() { "$@" -c 'import sys; assert sys.version_info[:2] == (3, 12); print(sys.executable)' 2>/dev/null; }
for cand in python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12; do
  if out=$(try "$cand"); then echo "$out"; exit 0; fi
done
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -t. -k3 -n -r); do
    if out=$(PYENV_VERSION="$v" try python3.12); then echo "$out"; exit 0; fi
  done
fi
for p in "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
  if out=$(try "$p"); then echo "$out"; exit 0; fi
done
echo "error: no working python3.12 found (tried python3.12, pyenv 3.12.x, /usr/bin, /usr/local/bin)" >&2
exit 1
