/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file
 * Guest (VM) settings in the forms vhost-device-vsock takes them, so that
 * its users can switch to vsock-bridge without rewriting their scripts:
 *
 * - one `--vm` value, comma-separated key=value pairs:
 *   `--vm guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,
 *   tx-buffer-size=65536,queue-size=1024,groups=group1+group2`
 *   (every key also as in snake case: guest_cid, uds_path, ...);
 * - a YAML file (`--config FILE`) with a top-level `vms:` list of
 *   mappings with the same keys in snake case:
 *
 *       vms:
 *         - guest_cid: 3
 *           socket: /tmp/vhost3.socket
 *           uds_path: /tmp/vm3.vsock
 *           tx_buffer_size: 65536
 *           queue_size: 1024
 *           groups: group1+groupA
 *
 * Required: socket and uds-path. Defaults as vhost-device-vsock's: guest
 * CID 3 and the single group "default"; tx-buffer-size and queue-size are
 * left 0 ("not given") for the bridge to pick its own defaults.
 *
 * Where vhost-device-vsock takes a value it cannot use (CID 0..2 or
 * above 2^32 - 2, an empty path, tx-buffer-size 0, an empty group name,
 * an unknown key in the file, two VMs with one CID), we refuse it here,
 * with an error naming the key and the value. vhost-device-vsock's vsock
 * back-end (forward-cid, forward-listen) is recognised and refused: the
 * bridge only offers the Unix socket back-end.
 *
 * Plain C11 and libc (libyaml for the file): no DPDK, so the unit tests
 * run without EAL.
 */
#ifndef BR_VM_CONF_H
#define BR_VM_CONF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of a Unix socket path, its NUL included (sun_path's size). */
#define BR_VM_PATH_MAX 108
/**
 * Longest "_<port>" the bridge appends to uds-path for a guest's connect
 * to a host port ("_4294967295"): uds-path may be at most
 * BR_VM_PATH_MAX - 1 - BR_VM_PORT_SUFFIX_MAX bytes long.
 */
#define BR_VM_PORT_SUFFIX_MAX 11
/**
 * Groups one VM may be in (after duplicates are merged), and the bytes of
 * a group name, its NUL included: lib/vsock_vhost's VSOCK_VHOST_MAX_GROUPS
 * and VSOCK_VHOST_GROUP_LEN, which this DPDK-free header does not include.
 */
#define BR_VM_MAX_GROUPS 16
#define BR_VM_GROUP_NAME_MAX 64
/** The group of a VM whose groups are not given (vhost-device-vsock's). */
#define BR_VM_DEFAULT_GROUP "default"
/** The guest CID when none is given (vhost-device-vsock's). */
#define BR_VM_DEFAULT_CID 3
/** Smallest guest CID: 0, 1 and 2 are the hypervisor, local and host. */
#define BR_VM_CID_MIN 3
/** Largest guest CID: 2^32 - 1 is VMADDR_CID_ANY; the spec's CID is 32-bit. */
#define BR_VM_CID_MAX 4294967294u
/**
 * tx-buffer-size bounds: the stack's smallest settable receive buffer,
 * and the largest buf_alloc it takes from a peer (16 MiB): a guest could
 * not use more, the mbuf pool holds far less.
 */
#define BR_VM_TX_BUF_MIN 128u
#define BR_VM_TX_BUF_MAX (16u * 1024 * 1024)
/** queue-size bounds: virtio's largest virtqueue is 32768 entries. */
#define BR_VM_QUEUE_SIZE_MIN 1u
#define BR_VM_QUEUE_SIZE_MAX 32768u
/** Longest `--vm` value taken (its pairs, commas included). */
#define BR_VM_ARG_MAX 4096

/** One guest's settings. */
struct br_vm_conf {
	/** Guest CID, BR_VM_CID_MIN..BR_VM_CID_MAX (default 3). */
	uint64_t cid;
	/** vhost-user socket of the guest's device (required). */
	char socket[BR_VM_PATH_MAX];
	/**
	 * Unix socket of the host side, Firecracker's hybrid vsock
	 * (required); at most BR_VM_PATH_MAX - 1 - BR_VM_PORT_SUFFIX_MAX
	 * bytes so that "<uds_path>_<port>" fits a sockaddr_un.
	 */
	char uds_path[BR_VM_PATH_MAX];
	/** Per-connection buffer (buf_alloc) in bytes; 0: not given. */
	uint32_t tx_buffer_size;
	/** Largest virtqueue the device accepts; 0: not given. */
	uint32_t queue_size;
	/**
	 * Groups the VM is in, for communication between sibling VMs; each
	 * name non-empty, NUL-terminated, without '+'. Default: the one
	 * group BR_VM_DEFAULT_GROUP.
	 */
	char groups[BR_VM_MAX_GROUPS][BR_VM_GROUP_NAME_MAX];
	/** Entries of @p groups in use, 1..BR_VM_MAX_GROUPS. */
	unsigned int nb_groups;
};

/**
 * Reset @p vm to the defaults: CID 3, group "default", no paths, no
 * tx-buffer-size or queue-size.
 */
void br_vm_init(struct br_vm_conf *vm);

/**
 * Set one key of @p vm, checked as br_vm_parse() checks it: for programs
 * that take the settings as options of their own (--guest-cid,
 * --uds-path, --tx-buffer-size, --queue-size, --groups).
 *
 * @param key
 *   A key as `--vm` spells it: guest-cid, socket, uds-path,
 *   tx-buffer-size, queue-size, groups, or with '_' for '-'.
 * @param val
 *   Its value, as on the command line.
 * @param why
 *   Receives the reason of a refusal, without key or value (for
 *   "bad --guest-cid '2': <why>"): e.g. "must be 3..4294967294".
 * @return
 *   0, or -EINVAL with @p why filled.
 */
int br_vm_set(struct br_vm_conf *vm, const char *key, const char *val,
		char *why, size_t whylen);

/**
 * The first required key @p vm lacks ("socket", "uds-path"), or NULL if
 * it has them all.
 */
const char *br_vm_missing(const struct br_vm_conf *vm);

/**
 * Parse one `--vm` value into @p vm (reset to the defaults first).
 *
 * Pairs are separated by ',', a key from its value by the first '='
 * (the value is the rest, '=' and all). Whitespace around the whole
 * value is ignored, as vhost-device-vsock does; anywhere else it counts.
 * Numbers are decimal, an optional leading '+' allowed (Rust's parse).
 * Unknown keys, a key given twice, an empty pair and missing required
 * keys are errors.
 *
 * @param arg
 *   The value, e.g. "guest-cid=4,socket=/tmp/s,uds-path=/tmp/u".
 * @param err
 *   Receives an error naming the bad pair, e.g.
 *   `--vm guest-cid=2: must be 3..4294967294`. May be NULL.
 * @return
 *   0, or -EINVAL with @p err filled.
 */
int br_vm_parse(const char *arg, struct br_vm_conf *vm, char *err,
		size_t errlen);

/**
 * Read a vhost-device-vsock YAML configuration file into @p vms.
 *
 * The file is one YAML document: a mapping with the only key `vms`, a
 * non-empty sequence of mappings with the keys guest_cid, socket,
 * uds_path, tx_buffer_size, queue_size, groups (dashes for underscores
 * are taken too). A value of null (`~`, `null`, nothing) is the key not
 * given. Numbers are YAML integers as vhost-device-vsock reads them:
 * decimal without leading zeros, 0x, 0o or 0b, an optional '+'; never
 * quoted. The VMs are checked against each other as br_vm_check_dups()
 * does.
 *
 * @param path
 *   The file; errors start with it as given.
 * @param vms
 *   Array of @p max entries.
 * @param nb
 *   Receives the number of VMs read (0 on error).
 * @param err
 *   Receives an error with the file's line, e.g.
 *   `config.yaml:4: unknown key "guest_cidd"`. May be NULL.
 * @return
 *   0; -EINVAL for a bad file; -ENOMEM if libyaml ran out of memory;
 *   the negative errno of fopen() or of a read error.
 */
int br_vm_config_load(const char *path, struct br_vm_conf *vms,
		unsigned int max, unsigned int *nb, char *err, size_t errlen);

/**
 * Check VMs against each other: two with one guest CID, one vhost-user
 * socket or one uds-path, or a path that is one VM's socket and another's
 * (or its own) uds-path, are an error naming the value and the VMs
 * (1-based, in the order given).
 *
 * @return
 *   0, or -EINVAL with @p err filled, e.g.
 *   `guest-cid 4: given to VM 1 and VM 3`.
 */
int br_vm_check_dups(const struct br_vm_conf *vms, unsigned int nb,
		char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* BR_VM_CONF_H */
