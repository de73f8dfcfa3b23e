#!/usr/bin/env bash
# Installs, once, the SMTP server the email-channel tests deliver to: aiosmtpd (PyPI), into a
# virtualenv outside the repository. Prints the virtualenv's python. Safe to run any number of
# times.
set -euo pipefail
venv="${FRONTLINE_SMTP_VENV:-$HOME/.cache/frontline/smtp-venv}"
python="$venv/bin/python"
if ! "$python" -c 'import aiosmtpd' >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || { echo "smtp: python3 with venv and pip is needed" >&2; exit 1; }
  echo "smtp: installing aiosmtpd into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'aiosmtpd==1.4.6' >&2
fi
printf '%s\n' "$python"
