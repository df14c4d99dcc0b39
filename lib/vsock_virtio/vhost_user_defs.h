/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vhost-user's numbers and message layout (QEMU's
 * docs/interop/vhost-user.rst), once for the driver's front-end
 * (virtio_vsock_vhost_user.c) and the back-end (lib/vsock_vhost, whose
 * hooks see the messages rte_vhost received). Only what the two use.
 */
#ifndef VSOCK_VHOST_USER_DEFS_H
#define VSOCK_VHOST_USER_DEFS_H

#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
};

#define VU_VERSION 0x1
#define VU_FLAG_REPLY 0x4
#define VU_HDR_SIZE 12
/* Feature bit 30 of GET_FEATURES: the protocol features exist. */
#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_CONFIG 9
#define VU_MAX_REGIONS 8
#define VU_CONFIG_MAX 256
/* GET_CONFIG's payload before the region: offset, size, flags. */
#define VU_CONFIG_HDR 12

struct vu_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region regions[VU_MAX_REGIONS];
};

struct vu_state {
	uint32_t index;
	uint32_t num;
};

struct vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VU_CONFIG_MAX];
};

/* A message: header, then payload (packed: the header is 12 bytes). */
struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;		/* payload bytes */
	union {
		uint64_t u64;
		struct vu_state state;
		struct vu_addr addr;
		struct vu_mem mem;
		struct vu_config cfg;
	} p;
} __attribute__((packed));

#endif /* VSOCK_VHOST_USER_DEFS_H */
