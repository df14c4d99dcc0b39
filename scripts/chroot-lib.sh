# shellcheck shell=bash
# Sourced by scripts/test-trixie.sh and scripts/test-deb.sh: a Debian
# root made ready to run the project's programs (proc, sys, a /dev of
# the usual nodes, the host's hugepages and /run), every mount undone
# on exit, last first.
#
#   chroot_mount ROOT [BIND...]   mount the root, then bind each BIND
#                                 (a host folder) at its own path inside
#   chroot_run ROOT CMD           run CMD (one string) in bash inside,
#                                 with a clean environment plus any
#                                 CHROOT_ENV=("NAME=value" ...)

chroot_mounted=()
chroot_umount_all() {
	local i
	for ((i = ${#chroot_mounted[@]} - 1; i >= 0; i--)); do
		umount "${chroot_mounted[i]}" ||
			umount -l "${chroot_mounted[i]}" || true
	done
	chroot_mounted=()
}
trap chroot_umount_all EXIT
trap 'exit 130' INT TERM HUP

chroot_mnt() {	# chroot_mnt TARGET MOUNT-ARGS...
	local t=$1
	shift
	[ -e "$t" ] || mkdir -p "$t"
	mount "$@" "$t"
	chroot_mounted+=("$t")
}

chroot_node() {	# chroot_node ROOT NAME: the host's /dev/NAME, same numbers
	mknod -m "$(stat -c %a "/dev/$2")" "$1/dev/$2" c \
		$((0x$(stat -c %t "/dev/$2"))) $((0x$(stat -c %T "/dev/$2")))
}

chroot_mount() {
	local R=$1 n b
	shift
	grep -qs "^[^ ]* /dev/hugepages hugetlbfs " /proc/mounts || {
		echo "chroot: no hugetlbfs on /dev/hugepages:" \
			"run scripts/setup.sh" >&2
		return 1
	}
	# The root a mount point of its own: tests/guard/vsock-guard
	# remounts / private in its namespace, which fails on a folder.
	chroot_mnt "$R" --bind "$R"
	chroot_mnt "$R/proc" -t proc proc
	chroot_mnt "$R/sys" -t sysfs sysfs
	# A /dev of our own with the usual nodes only: the machine's PCI
	# and VFIO devices stay out of reach.
	chroot_mnt "$R/dev" -t tmpfs -o mode=755,nosuid tmpfs
	for n in null zero full random urandom tty; do
		chroot_node "$R" $n
	done
	ln -s /proc/self/fd "$R/dev/fd"
	# /dev/vsock as on the host, where the tests stat it (never open
	# it): vsock-guard covers it with /dev/null.
	if [ -c /dev/vsock ]; then
		chroot_node "$R" vsock
	fi
	chroot_mnt "$R/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
	chroot_mnt "$R/dev/pts" -t devpts -o newinstance,ptmxmode=0666 devpts
	ln -s pts/ptmx "$R/dev/ptmx"
	# The host's hugepages and /run: DPDK's runtime folders (/run/dpdk)
	# and hugepage files are then the ones the host's DPDK processes
	# see, so file prefixes cannot collide unseen.
	chroot_mnt "$R/dev/hugepages" --bind /dev/hugepages
	chroot_mnt "$R/run" --bind /run
	for b in "$@"; do
		chroot_mnt "$R$b" --bind "$b"
	done
}

CHROOT_ENV=()
chroot_run() {
	chroot "$1" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
		PATH=/usr/sbin:/usr/bin:/sbin:/bin "${CHROOT_ENV[@]}" \
		bash -c "$2"
}
