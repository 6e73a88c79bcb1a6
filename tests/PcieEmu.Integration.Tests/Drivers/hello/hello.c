// SPDX-License-Identifier: GPL-2.0
/*
 * A tiny out-of-tree module for the `boot --driver` tests: it logs a marker when loaded and unloaded, and shows
 * its greeting parameter at /sys/module/hello/parameters/greeting.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>

static char *greeting = "hello from a user driver";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "logged when the module loads");

static int __init hello_init(void)
{
	pr_info("pcieemu-hello: loaded: %s\n", greeting);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("pcieemu-hello: unloaded\n");
}

module_init(hello_init);
module_exit(hello_exit);

MODULE_DESCRIPTION("PcieEmu test module: a user driver for boot --driver");
MODULE_LICENSE("GPL");
