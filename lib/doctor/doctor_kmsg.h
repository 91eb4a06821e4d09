/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "doctor/doctor_device.h"
#include "doctor/doctor_report.h"
#include "kernel/kmsg.h"

/* The status a kind of kernel message gives in doctor's report. */
enum doctor_status kmsg_kind_status(enum kmsg_kind k);

/* The `kernel-log` check. host_wide: report messages about devices outside the set too (with
 * their own slot); otherwise those are left out. Messages about a device's parent bridge are
 * reported under the device. */
void doctor_check_kernel_log(const struct kmsg_log *log, const struct doctor_devices *set, bool host_wide,
                             struct doctor_report *rep);
