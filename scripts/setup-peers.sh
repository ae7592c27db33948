#!/usr/bin/env bash
# Installs the Python side of `swavbench bench --peers`, pinned, without dependency trees:
#   * lightly (the library peer) into .peers/site/: the peer imports only lightly.loss and
#     lightly.models.modules, which need torch and torchvision (Debian's python3-torch and
#     python3-torchvision, from scripts/setup-deps.sh test), not PyTorch Lightning or Hydra;
#   * when scripts/setup-torch2.sh has put PyTorch 2.x in .torch2/site, the pure-Python packages
#     its `import torch` needs (newer than Debian's) into .torch2/pydeps/, so that the eager peer
#     also runs under PyTorch 2.x (setup-torch2.sh installs the wheel for C++ alone).
# Both folders are git-ignored. Idempotent, no prompts; prints nothing when all is there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
site="$root/.peers/site"
lightly_version="1.6.0"
stamp="$site/.swavbench-lightly-$lightly_version"
torch2_site="$root/.torch2/site"
pydeps="$root/.torch2/pydeps"
# torch 2.11.0's METADATA: filelock, typing-extensions>=4.10.0, sympy>=1.13.3 (mpmath),
# networkx>=2.5.1, jinja2 (markupsafe), fsspec>=0.8.5; setuptools and the CUDA wheels are not
# imported by `import torch` on a CPU.
torch2_pydeps=(filelock==3.16.1 typing_extensions==4.12.2 sympy==1.13.3 mpmath==1.3.0
               networkx==3.4.2 jinja2==3.1.4 markupsafe==3.0.2 fsspec==2024.10.0)
pydeps_stamp="$pydeps/.swavbench-$(printf '%s ' "${torch2_pydeps[@]}" | sha256sum | cut -c1-12)"
need_lightly=1
[ -f "$stamp" ] && need_lightly=0
need_pydeps=0
if [ -f "$torch2_site/torch/__init__.py" ] && [ ! -f "$pydeps_stamp" ]; then need_pydeps=1; fi
[ "$need_lightly" = 0 ] && [ "$need_pydeps" = 0 ] && exit 0
# A pure-Python wheel: any pip installs it (the one setup-torch2.sh uses); Debian's python3
# imports it, beside its own torch.
pip_python=python3
if ! "$pip_python" -m pip --version >/dev/null 2>&1; then
  echo "setup-peers: installing python3-pip" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-pip >/dev/null
fi
python=/usr/bin/python3
install() {  # folder, packages...
  local dir="$1"
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore "$pip_python" -m pip install -q \
    --no-deps --no-compile --target "$dir" "$@" >&2
}
if [ "$need_lightly" = 1 ]; then
  echo "setup-peers: installing lightly==$lightly_version into $site" >&2
  install "$site" "lightly==$lightly_version"
  PYTHONPATH="$site" "$python" -c "from lightly.loss import SwaVLoss; from lightly.models.modules import SwaVProjectionHead, SwaVPrototypes" ||
    { echo "setup-peers: lightly $lightly_version does not import with this Python's torch" >&2; exit 1; }
  touch "$stamp"
fi
if [ "$need_pydeps" = 1 ]; then
  echo "setup-peers: installing ${torch2_pydeps[*]} into $pydeps (for PyTorch 2.x in $torch2_site)" >&2
  install "$pydeps" "${torch2_pydeps[@]}"
  PYTHONPATH="$torch2_site:$pydeps" "$python" -c "import torch; torch.ones(2) @ torch.ones(2)" ||
    { echo "setup-peers: PyTorch in $torch2_site does not import with $pydeps" >&2; exit 1; }
  touch "$pydeps_stamp"
fi
