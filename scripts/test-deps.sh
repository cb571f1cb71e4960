#!/usr/bin/env bash
# Installs what the tests drive for real: Debian's Chromium (browser tests) and
# Dovecot (IMAP tests). Safe to run twice: it installs only what is missing.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/submission ] || need+=(dovecot-submissiond)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "installing ${need[*]} (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq "${need[@]}" >/dev/null 2>&1; then
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq "${need[@]}"
fi
# the Debian package starts a system-wide dovecot; the tests run their own
$SUDO systemctl disable --now dovecot >/dev/null 2>&1 || true
