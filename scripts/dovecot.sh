#!/usr/bin/env bash
# A throwaway Dovecot for Kibo's e-mail tests: everything (config, sockets, state, log,
# mail) lives in one directory, the daemon runs in the foreground under our own pid, and
# one IMAP user exists: support@example.com / secret.
#
#   scripts/dovecot.sh install            install dovecot-imapd when it is missing
#   scripts/dovecot.sh start DIR PORT     write DIR/dovecot.conf, start, wait for PORT
#   scripts/dovecot.sh stop DIR           stop the Dovecot started in DIR
#   scripts/dovecot.sh kill DIR           SIGKILL it and its children (a crash, for tests)
#
# Safe to run twice: start on a running instance and stop on a stopped one do nothing.
# Keep DIR short (under ~60 characters): Dovecot puts unix sockets under DIR/run and a
# socket path may not exceed 107 bytes.
set -euo pipefail

die() { echo "dovecot.sh: $*" >&2; exit 1; }

install_dovecot() {
	if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
		return 0
	fi
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "dovecot is missing and we are not root (no sudo)"
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	if ! $sudo apt-get install -y --no-install-recommends dovecot-imapd; then
		$sudo apt-get update
		$sudo apt-get install -y --no-install-recommends dovecot-imapd
	fi
	# The package starts a system-wide Dovecot on 143/993; the tests never need it.
	if command -v systemctl >/dev/null 2>&1; then
		$sudo systemctl disable --now dovecot >/dev/null 2>&1 || true
	fi
}

dovecot_bin() {
	if command -v dovecot >/dev/null 2>&1; then command -v dovecot; else echo /usr/sbin/dovecot; fi
}

# alive PID: the process exists and is not a zombie waiting for its (adoptive) parent.
alive() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	case "$state" in Z*) return 1 ;; esac
	return 0
}

running() { # DIR
	local pid
	[ -f "$1/dovecot.pid" ] || return 1
	pid=$(cat "$1/dovecot.pid")
	[ -n "$pid" ] && alive "$pid"
}

port_open() { # PORT
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() { # DIR PORT
	local dir=$1 port=$2 uid gid
	uid=$(id -u nobody)
	gid=$(id -g nobody)
	mkdir -p "$dir/run" "$dir/state" "$dir/mail/support"
	# Dovecot's auth process runs as the dovecot user and the mail processes as nobody:
	# both must reach the passwd file and the mail folder.
	chmod 0755 "$dir"
	chown -R "$uid:$gid" "$dir/mail"
	echo "support@example.com:{PLAIN}secret:$uid:$gid::$dir/mail/support" >"$dir/passwd"
	chmod 0644 "$dir/passwd"
	cat >"$dir/dovecot.conf" <<CONF
protocols = imap
listen = 127.0.0.1
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords on purpose: no failure delay, and no growing per-IP penalty
# (the auth process cannot reach anvil's penalty socket, which disables it).
auth_failure_delay = 0
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
mail_location = maildir:~/Maildir
# Wake IDLE clients quickly even where inotify is unavailable.
mailbox_idle_check_interval = 1 secs
passdb {
  driver = passwd-file
  args = $dir/passwd
}
userdb {
  driver = passwd-file
  args = $dir/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
}

start() { # DIR PORT
	local dir port pid i
	[ $# -eq 2 ] || die "usage: dovecot.sh start DIR PORT"
	dir=$(mkdir -p "$1" && cd "$1" && pwd)
	port=$2
	install_dovecot
	if running "$dir"; then
		port_open "$port" && return 0
		die "a Dovecot already runs in $dir (pid $(cat "$dir/dovecot.pid")) but port $port does not answer"
	fi
	write_config "$dir" "$port"
	# In its own process group (setsid), so stop can signal the master and its children at
	# once (a TERM to the master alone takes seconds), and detached from our stdout and
	# stderr so a caller capturing them is not held open.
	setsid "$(dovecot_bin)" -F -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.out" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/dovecot.pid"
	for i in $(seq 1 200); do
		if port_open "$port"; then
			return 0
		fi
		if ! alive "$pid"; then
			rm -f "$dir/dovecot.pid"
			cat "$dir/dovecot.out" "$dir/dovecot.log" >&2 2>/dev/null || true
			die "dovecot exited during start"
		fi
		sleep 0.05
	done
	kill "$pid" 2>/dev/null || true
	rm -f "$dir/dovecot.pid"
	cat "$dir/dovecot.log" >&2 2>/dev/null || true
	die "dovecot did not answer on 127.0.0.1:$port within 10 s"
}

stop() { # SIGNAL DIR
	local sig=$1 dir=$2 pid i
	[ -f "$dir/dovecot.pid" ] || return 0
	pid=$(cat "$dir/dovecot.pid")
	if [ -n "$pid" ] && alive "$pid"; then
		# The master leads its own process group (see start).
		kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			alive "$pid" || break
			sleep 0.05
		done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	# Dovecot refuses to start while the pid in run/master.pid exists, and a dead master
	# may linger as a zombie until init reaps it.
	rm -f "$dir/dovecot.pid" "$dir/run/master.pid"
}

cmd=${1:-install}
shift || true
case "$cmd" in
install) install_dovecot ;;
start) start "$@" ;;
stop)
	[ $# -eq 1 ] || die "usage: dovecot.sh stop DIR"
	stop TERM "$1"
	;;
kill)
	[ $# -eq 1 ] || die "usage: dovecot.sh kill DIR"
	stop KILL "$1"
	;;
*) die "unknown command $cmd (install | start DIR PORT | stop DIR | kill DIR)" ;;
esac
