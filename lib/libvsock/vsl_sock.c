/* SPDX-License-Identifier: BSD-3-Clause */
/* placeholder: being written */
typedef int vsl_placeholder_vsl_sock;
