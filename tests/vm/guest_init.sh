#!/bin/busybox sh
# /init of the test guests' initramfs: load the boot modules, mount the
# host's root read-only over virtio-9p, give it fresh /dev, /proc, /sys,
# /run and /tmp, run the command from the kernel command line in a chroot,
# print its exit status on the console and power off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
KVER=$(uname -r)
for m in $(cat /modules.boot); do
	insmod /lib/modules/$KVER/$m || echo "init: insmod $m failed"
done
CMD=
for a in $(cat /proc/cmdline); do
	case $a in vmcmd=*) CMD=${a#vmcmd=};; esac
done
R=/newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro \
		hostroot $R; then
	echo "=== VMCMD EXIT 126"
	poweroff -f
fi
mount -t devtmpfs dev $R/dev
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t tmpfs -o mode=755 run $R/run
# /tmp: the host's, writable through an overlay, so that a tree or a file
# under the host's /tmp has the same path in here (and in a nested guest).
mkdir -p /tmpup && mount -t tmpfs -o mode=755 tmpup /tmpup
mkdir -p /tmpup/up /tmpup/work && chmod 1777 /tmpup/up
mount -t overlay -o lowerdir=$R/tmp,upperdir=/tmpup/up,workdir=/tmpup/work \
	overlay $R/tmp || mount -t tmpfs -o mode=1777 tmp $R/tmp
mkdir -p $R/dev/pts $R/dev/shm $R/dev/hugepages
mount -t devpts -o newinstance,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=1777 vartmp $R/var/tmp 2>/dev/null
mount -t tmpfs -o mode=755 varrun $R/var/run 2>/dev/null
# The guest kernel's modules live in this initramfs, bound at /run/initrd;
# "modprobe" in the command's PATH runs busybox's modprobe there.
mkdir -p $R/run/initrd $R/run/vmbin
mount --bind / $R/run/initrd
for d in proc sys dev; do mount --bind /$d $R/run/initrd/$d; done
cat > $R/run/vmbin/modprobe <<'EOM'
#!/bin/sh
exec /usr/sbin/chroot /run/initrd /bin/busybox modprobe "$@"
EOM
chmod 755 $R/run/vmbin/modprobe
echo "$CMD" | base64 -d > $R/run/vmcmd.sh
echo "=== VMCMD START"
chroot $R /usr/bin/env -i HOME=/root TERM=dumb \
	PATH=/run/vmbin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	/bin/bash /run/vmcmd.sh < /dev/console > /dev/console 2>&1
rc=$?
echo
echo "=== VMCMD EXIT $rc"
sync
poweroff -f
