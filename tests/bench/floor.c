/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tests/bench/floor.c — B1 contestant (c), the floor: a program that does nothing, built with the same
 * compiler flags and linked (--no-as-needed) against the same libraries as pve-gpu-reset (libpci,
 * json-c, libsystemd), so process start, dynamic linking and relocation are all it costs. */
int main(void);
int main(void)
{
        return 0;
}
