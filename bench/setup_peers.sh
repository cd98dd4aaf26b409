#!/usr/bin/env bash
# The peers that `make bench` measures minyi against, set up once per machine as
# /work/shared/peers/README.md describes; none of it is a project dependency.
# Python peers (svy, samplics) go into their own venv (~/.peers, or $MINYI_PEER_VENV);
# R with `survey` and `sampling`, and wrk for the load benchmarks, come from Debian.
set -euo pipefail
venv="${MINYI_PEER_VENV:-$HOME/.peers}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import svy, samplics" 2>/dev/null; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check svy samplics polars pandas pyarrow numpy
fi

need=()
command -v Rscript >/dev/null 2>&1 || need+=(r-base-core)
if command -v Rscript >/dev/null 2>&1; then
  Rscript -e 'library(survey); library(sampling)' >/dev/null 2>&1 || need+=(r-cran-survey r-cran-sampling)
else
  need+=(r-cran-survey r-cran-sampling)
fi
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench: install ${need[*]} from Debian (apt-get install ${need[*]}) and rerun" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
