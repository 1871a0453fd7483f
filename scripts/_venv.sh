# Sourced by scripts/test and scripts/demo: a virtualenv in .venv with the project in it.
pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "dailystats needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}
if [ ! -x .venv/bin/python ]; then
  "$(pick_python)" -m venv .venv
fi
# Install only when what the install depends on changed (the editable install itself
# follows the code): a stamp of pyproject.toml and setup.py in .venv. DAILYSTATS_REINSTALL=1
# forces it (e.g. to refresh `dailystats --version` after new commits).
stamp=$(cat pyproject.toml setup.py | cksum)
if [ "${DAILYSTATS_REINSTALL:-}" = 1 ] || [ ! -f .venv/.dailystats-installed ] ||
   [ "$(cat .venv/.dailystats-installed)" != "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
  echo "$stamp" > .venv/.dailystats-installed
fi
