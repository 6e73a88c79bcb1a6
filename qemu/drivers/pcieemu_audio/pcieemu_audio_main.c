// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: PCI probe/remove, interrupts, power management and the
 * core sysfs attributes.
 *
 * The card is specified in firmware-models/pcieemu-audio/README.md (spec 1.1).
 * Everything a model file can change (device ID, streams, vectors, DMA limits)
 * is read from the card; only the vendor and class code are matched.
 */

#include <linux/bitfield.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/pm.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "pcieemu_audio.h"

#define PEA_PCI_VENDOR		0x1234

/* Causes the driver handles, spec §5. */
#define PEA_INTEN_ALL		(PEA_INTEN_DIAG | PEA_INTEN_DMA_DONE | PEA_INTEN_DMA_ERR)

static char *pea_irq_mode_param = "auto";
module_param_named(irq_mode, pea_irq_mode_param, charp, 0444);
MODULE_PARM_DESC(irq_mode,
		 "Interrupt mode: auto (MSI-X, then MSI, then INTx; default), msix, msi or intx");

/* PCI_IRQ_* flags for pci_alloc_irq_vectors(), from irq_mode at module load. */
static unsigned int pea_irq_flags;

static const char * const pea_irq_mode_names[] = {
	[PEA_IRQ_MSIX] = "msix",
	[PEA_IRQ_MSI] = "msi",
	[PEA_IRQ_INTX] = "intx",
};

const char *pea_irq_mode_name(struct pea_dev *pea)
{
	return pea_irq_mode_names[pea->irq_mode];
}

/*
 * One handler for every vector (spec §5, §8 step 7). DMA causes arrive on
 * vector 0, DIAG on the vector named by the DIAG_IRQ write and stream i on
 * vector 1 + i, but causes fold onto fewer vectors (MSI, INTx) and all of
 * them are visible in INTSTS, so any vector handles whatever is pending:
 * the global causes are acknowledged in INTSTS, the streams named by
 * INTSTS.SIS in their own SD_STS.
 *
 * A message (MSI or MSI-X) on one of our vectors is always ours and is always
 * counted, even when another vector's handler already acknowledged the cause:
 * the card sends one message per raise even while the INTSTS bit is still set,
 * so back-to-back raises can be acknowledged by the first handler that runs.
 * INTx is level triggered and may be shared: it is ours only while an enabled
 * cause is pending.
 */
static irqreturn_t pea_irq(int irq, void *data)
{
	struct pea_vec *vec = data;
	struct pea_dev *pea = vec->pea;
	u32 sts;

	sts = pea_read(pea, PEA_REG_INTSTS);
	if (sts == ~0U) {	/* not answering: D3hot or gone */
		pea_check_gone(pea);
		return IRQ_NONE;
	}
	if (pea->irq_mode == PEA_IRQ_INTX && !(sts & (pea->inten | PEA_INTSTS_SIS)))
		return IRQ_NONE;

	if (sts & PEA_INTSTS_W1C)
		pea_write(pea, PEA_REG_INTSTS, sts & PEA_INTSTS_W1C);	/* acknowledge */
	atomic64_inc(&vec->count);

	if (sts & (PEA_INTSTS_DMA_DONE | PEA_INTSTS_DMA_ERR))
		pea_diag_irq(pea, sts);
	if (sts & PEA_INTSTS_SIS)
		pea_streams_irq(pea, FIELD_GET(PEA_INTSTS_SIS, sts));

	return IRQ_HANDLED;
}

static void pea_free_irqs(struct pea_dev *pea)
{
	unsigned int i;

	for (i = 0; i < pea->nvec; i++) {
		struct pea_vec *vec = &pea->vecs[i];

		if (vec->requested) {
			free_irq(vec->irq, vec);
			vec->requested = false;
		}
	}
}

/*
 * A register read returned all-ones. In D3hot that is expected; if config
 * space reads all-ones too, the card is gone (spec §7.1): say so once, stop
 * using it and disconnect the ALSA card from process context. Safe in any
 * context (pci_device_is_present() takes only the PCI config lock).
 */
bool pea_check_gone(struct pea_dev *pea)
{
	if (READ_ONCE(pea->gone))
		return true;
	if (pci_device_is_present(pea->pdev))
		return false;
	if (xchg(&pea->gone, true))
		return true;
	dev_warn(&pea->pdev->dev, "card not answering (config space reads all-ones): removed, stopping its streams\n");
	schedule_work(&pea->gone_work);
	return true;
}

static void pea_gone_work(struct work_struct *work)
{
	struct pea_dev *pea = container_of(work, struct pea_dev, gone_work);

	/* Running streams stop with DISCONNECTED; blocked readers and writers wake with -ENODEV. */
	mutex_lock(&pea->card_lock);
	if (pea->card)
		snd_card_disconnect(pea->card);
	mutex_unlock(&pea->card_lock);
}

/* Arms the stall check while a stream runs (its first run, or after a quiet spell). */
void pea_watch_stalls(struct pea_dev *pea)
{
	if (!READ_ONCE(pea->gone))
		mod_delayed_work(system_wq, &pea->stall_work, msecs_to_jiffies(200));
}

/*
 * A running stream that has had no interrupt for well over two periods: is the
 * card still there? Nothing else would tell a reader blocked in ALSA, which waits
 * up to ten seconds before it gives up on its own.
 */
static void pea_stall_work(struct work_struct *work)
{
	struct pea_dev *pea = container_of(to_delayed_work(work), struct pea_dev, stall_work);
	bool running = false;
	unsigned int i;

	for (i = 0; i < pea->nstreams; i++) {
		struct pea_stream *st = &pea->streams[i];

		if (!READ_ONCE(st->running))
			continue;
		running = true;
		if (time_after(jiffies, READ_ONCE(st->last_irq) + st->stall) &&
		    pea_sd_read(st, PEA_SD_STS) == ~0U && pea_check_gone(pea))
			return;
	}
	if (running)
		pea_watch_stalls(pea);
}

void pea_sync_irqs(struct pea_dev *pea)
{
	unsigned int i;

	for (i = 0; i < pea->nvec; i++)
		if (pea->vecs[i].requested)
			synchronize_irq(pea->vecs[i].irq);
}

/* Spec §8 step 5: up to CAPS.NVEC vectors, as irq_mode allows. */
static int pea_setup_irqs(struct pea_dev *pea)
{
	struct pci_dev *pdev = pea->pdev;
	struct device *dev = &pdev->dev;
	unsigned int want = max(pea->card_nvec, 1U);
	unsigned long irqflags;
	unsigned int i;
	int ret, n;

	n = pci_alloc_irq_vectors(pdev, 1, want, pea_irq_flags);
	if (n < 0)
		return dev_err_probe(dev, n, "cannot allocate interrupt vectors (irq_mode=%s)\n",
				     pea_irq_mode_param);

	if (pdev->msix_enabled)
		pea->irq_mode = PEA_IRQ_MSIX;
	else if (pdev->msi_enabled)
		pea->irq_mode = PEA_IRQ_MSI;
	else
		pea->irq_mode = PEA_IRQ_INTX;
	irqflags = pea->irq_mode == PEA_IRQ_INTX ? IRQF_SHARED : 0;

	pea->vecs = devm_kcalloc(dev, n, sizeof(*pea->vecs), GFP_KERNEL);
	if (!pea->vecs) {
		ret = -ENOMEM;
		goto err_free_vectors;
	}
	pea->nvec = n;

	for (i = 0; i < pea->nvec; i++) {
		struct pea_vec *vec = &pea->vecs[i];

		vec->pea = pea;
		vec->index = i;
		atomic64_set(&vec->count, 0);
		snprintf(vec->name, sizeof(vec->name), "%s-v%u", PEA_DRV_NAME, i);

		ret = pci_irq_vector(pdev, i);
		if (ret < 0)
			goto err_free_irqs;
		vec->irq = ret;

		ret = request_irq(vec->irq, pea_irq, irqflags, vec->name, vec);
		if (ret) {
			dev_err(dev, "cannot request IRQ %d for vector %u: %d\n", vec->irq, i, ret);
			goto err_free_irqs;
		}
		vec->requested = true;
	}
	return 0;

err_free_irqs:
	pea_free_irqs(pea);
	pea->nvec = 0;
err_free_vectors:
	pci_free_irq_vectors(pdev);
	return ret;
}

static void pea_teardown_irqs(struct pea_dev *pea)
{
	pea_free_irqs(pea);
	pea->nvec = 0;
	pci_free_irq_vectors(pea->pdev);
}

/* Stop the card from raising interrupts or moving data (spec §7, §8 step 8). */
static void pea_quiesce(struct pea_dev *pea)
{
	pea_write(pea, PEA_REG_INTEN, 0);
	pea_write(pea, PEA_REG_GCTL, PEA_GCTL_RESET);
	pea->inten = 0;
	pea_read(pea, PEA_REG_ID);	/* flush the posted writes */
}

/* --- core sysfs attributes ---------------------------------------------- */

static ssize_t irq_mode_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", pea_irq_mode_names[pea->irq_mode]);
}
static DEVICE_ATTR_RO(irq_mode);

static ssize_t nvec_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u\n", pea->nvec);
}
static DEVICE_ATTR_RO(nvec);

static ssize_t irq_counts_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	unsigned int i;
	int len = 0;

	for (i = 0; i < pea->nvec; i++)
		len += sysfs_emit_at(buf, len, "%s%llu", i ? " " : "",
				     (unsigned long long)atomic64_read(&pea->vecs[i].count));
	len += sysfs_emit_at(buf, len, "\n");
	return len;
}
static DEVICE_ATTR_RO(irq_counts);

static struct attribute *pea_core_attrs[] = {
	&dev_attr_irq_mode.attr,
	&dev_attr_nvec.attr,
	&dev_attr_irq_counts.attr,
	NULL,
};

static const struct attribute_group pea_core_group = {
	.attrs = pea_core_attrs,
};

static const struct attribute_group *pea_groups[] = {
	&pea_core_group,
	&pea_diag_group,
	&pea_card_group,
	NULL,
};

/* --- probe / remove ------------------------------------------------------ */

/* Spec §8 steps 2-4. */
static int pea_identify(struct pea_dev *pea)
{
	struct device *dev = &pea->pdev->dev;
	u32 id, caps, dmacaps;

	id = pea_read(pea, PEA_REG_ID);
	if (id != PEA_ID_MAGIC) {
		dev_err(dev, "ID is 0x%08x, expected 0x%08x: not a PcieEmu Audio card\n",
			id, PEA_ID_MAGIC);
		return -ENODEV;
	}
	pea->version = pea_read(pea, PEA_REG_VERSION);
	if (FIELD_GET(PEA_VERSION_MAJOR, pea->version) != PEA_SPEC_MAJOR) {
		dev_err(dev, "card implements spec %u.%u, driver supports %d.x\n",
			FIELD_GET(PEA_VERSION_MAJOR, pea->version),
			FIELD_GET(PEA_VERSION_MINOR, pea->version), PEA_SPEC_MAJOR);
		return -ENODEV;
	}

	pea_write(pea, PEA_REG_GCTL, PEA_GCTL_RESET);

	caps = pea_read(pea, PEA_REG_CAPS);
	dmacaps = pea_read(pea, PEA_REG_DMACAPS);
	pea->maxseg = pea_read(pea, PEA_REG_MAXSEG);
	pea->nplay = FIELD_GET(PEA_CAPS_NPLAY, caps);
	pea->ncap = FIELD_GET(PEA_CAPS_NCAP, caps);
	pea->card_nvec = FIELD_GET(PEA_CAPS_NVEC, caps);
	pea->addr_bits = FIELD_GET(PEA_DMACAPS_ADDR_BITS, dmacaps);
	pea->align_log2 = FIELD_GET(PEA_DMACAPS_ALIGN_LOG2, dmacaps);
	pea->boundary_bits = FIELD_GET(PEA_DMACAPS_BOUNDARY_BITS, dmacaps);
	if (pea->align_log2 >= 31) {
		dev_err(&pea->pdev->dev, "DMACAPS.ALIGN_LOG2 %u is not usable\n", pea->align_log2);
		return -ENODEV;
	}
	return 0;
}

static int pea_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct pea_dev *pea;
	int ret;

	pea = devm_kzalloc(dev, sizeof(*pea), GFP_KERNEL);
	if (!pea)
		return -ENOMEM;
	pea->pdev = pdev;
	mutex_init(&pea->mixer_lock);
	mutex_init(&pea->card_lock);
	INIT_WORK(&pea->gone_work, pea_gone_work);
	INIT_DELAYED_WORK(&pea->stall_work, pea_stall_work);
	pci_set_drvdata(pdev, pea);

	/* Spec §8 step 1. */
	ret = pcim_enable_device(pdev);
	if (ret)
		return dev_err_probe(dev, ret, "cannot enable device\n");
	if (pci_resource_len(pdev, PEA_REGS_BAR) < PEA_REGS_BAR_SIZE) {
		dev_err(dev, "BAR%d is %llu bytes, expected at least %u\n", PEA_REGS_BAR,
			(unsigned long long)pci_resource_len(pdev, PEA_REGS_BAR),
			PEA_REGS_BAR_SIZE);
		return -ENODEV;
	}
	ret = pcim_iomap_regions(pdev, BIT(PEA_REGS_BAR), PEA_DRV_NAME);
	if (ret)
		return dev_err_probe(dev, ret, "cannot map BAR%d\n", PEA_REGS_BAR);
	pea->regs = pcim_iomap_table(pdev)[PEA_REGS_BAR];
	pci_set_master(pdev);

	ret = pea_identify(pea);
	if (ret)
		goto err_clear_master;

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(min(pea->addr_bits, 64U)));
	if (ret) {
		dev_err(dev, "cannot use a %u-bit DMA mask: %d\n", pea->addr_bits, ret);
		goto err_clear_master;
	}

	ret = pea_streams_init(pea);
	if (ret)
		goto err_clear_master;

	ret = pea_diag_init(pea);
	if (ret)
		goto err_clear_master;

	ret = pea_setup_irqs(pea);
	if (ret)
		goto err_diag;

	/* Spec §8 step 6. */
	pea->inten = PEA_INTEN_ALL;
	pea_write(pea, PEA_REG_INTEN, pea->inten);

	ret = sysfs_create_groups(&dev->kobj, pea_groups);
	if (ret) {
		dev_err(dev, "cannot create sysfs attributes: %d\n", ret);
		goto err_quiesce;
	}

	ret = pea_snd_create(pea);
	if (ret)
		goto err_groups;

	dev_info(dev, "PcieEmu Audio spec %d.%d: %u playback, %u capture, %d vector(s) (%s)\n",
		 (int)FIELD_GET(PEA_VERSION_MAJOR, pea->version),
		 (int)FIELD_GET(PEA_VERSION_MINOR, pea->version),
		 pea->nplay, pea->ncap, (int)pea->nvec, pea_irq_mode_names[pea->irq_mode]);
	return 0;

err_groups:
	sysfs_remove_groups(&dev->kobj, pea_groups);
err_quiesce:
	pea_quiesce(pea);
	pea_teardown_irqs(pea);
err_diag:
	pea_diag_fini(pea);
err_clear_master:
	pci_clear_master(pdev);
	return ret;
}

static void pea_remove(struct pci_dev *pdev)
{
	struct pea_dev *pea = pci_get_drvdata(pdev);

	/* Waits for sysfs readers and writers (a running dma_test) to leave. */
	sysfs_remove_groups(&pdev->dev.kobj, pea_groups);

	/* Stops running streams and waits until every ALSA file is closed. */
	pea_snd_free(pea);
	cancel_delayed_work_sync(&pea->stall_work);
	cancel_work_sync(&pea->gone_work);

	if (!READ_ONCE(pea->gone))	/* a removed card has no registers left to quiesce */
		pea_quiesce(pea);
	pea_teardown_irqs(pea);
	pea_diag_fini(pea);
	pci_clear_master(pdev);
}

static void pea_shutdown(struct pci_dev *pdev)
{
	struct pea_dev *pea = pci_get_drvdata(pdev);

	pea_quiesce(pea);
	pci_clear_master(pdev);
}

/* --- power management ---------------------------------------------------- */

static int pea_suspend(struct device *dev)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	struct pea_dev *pea = pci_get_drvdata(pdev);

	/* Streams stop (ALSA suspend); registers are restored on resume. */
	pea_snd_suspend(pea);

	/* Let a running dma_test finish, then keep the card quiet. */
	mutex_lock(&pea->diag.lock);
	pea_write(pea, PEA_REG_INTEN, 0);
	pea_read(pea, PEA_REG_ID);
	pea_sync_irqs(pea);
	mutex_unlock(&pea->diag.lock);

	pci_save_state(pdev);
	return pci_set_power_state(pdev, PCI_D3hot);
}

/* No_Soft_Reset = 1 (spec §2, §7): the card keeps its registers across D3hot. */
static int pea_resume(struct device *dev)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	struct pea_dev *pea = pci_get_drvdata(pdev);
	int ret;

	ret = pci_set_power_state(pdev, PCI_D0);
	if (ret)
		dev_warn(dev, "cannot return to D0: %d\n", ret);
	pci_restore_state(pdev);
	pci_set_master(pdev);
	pea_write(pea, PEA_REG_INTEN, pea->inten);
	pea_snd_resume(pea);
	return 0;
}

static DEFINE_SIMPLE_DEV_PM_OPS(pea_pm_ops, pea_suspend, pea_resume);

/* --- module -------------------------------------------------------------- */

static const struct pci_device_id pea_ids[] = {
	{
		.vendor = PEA_PCI_VENDOR,
		.device = PCI_ANY_ID,
		.subvendor = PCI_ANY_ID,
		.subdevice = PCI_ANY_ID,
		.class = PCI_CLASS_MULTIMEDIA_AUDIO << 8,
		.class_mask = 0xffff00,
	},
	{ }
};
MODULE_DEVICE_TABLE(pci, pea_ids);

static struct pci_driver pea_driver = {
	.name = PEA_DRV_NAME,
	.id_table = pea_ids,
	.probe = pea_probe,
	.remove = pea_remove,
	.shutdown = pea_shutdown,
	.driver.pm = pm_sleep_ptr(&pea_pm_ops),
};

static int __init pea_init(void)
{
	if (sysfs_streq(pea_irq_mode_param, "auto")) {
		pea_irq_flags = PCI_IRQ_MSIX | PCI_IRQ_MSI | PCI_IRQ_LEGACY;
	} else if (sysfs_streq(pea_irq_mode_param, "msix")) {
		pea_irq_flags = PCI_IRQ_MSIX;
	} else if (sysfs_streq(pea_irq_mode_param, "msi")) {
		pea_irq_flags = PCI_IRQ_MSI;
	} else if (sysfs_streq(pea_irq_mode_param, "intx")) {
		pea_irq_flags = PCI_IRQ_LEGACY;
	} else {
		pr_err("%s: irq_mode=%s is not one of auto, msix, msi, intx\n",
		       PEA_DRV_NAME, pea_irq_mode_param);
		return -EINVAL;
	}
	if (pea_fault_param_init())
		return -EINVAL;
	return pci_register_driver(&pea_driver);
}
module_init(pea_init);

static void __exit pea_exit(void)
{
	pci_unregister_driver(&pea_driver);
}
module_exit(pea_exit);

MODULE_DESCRIPTION("PcieEmu synthetic PCIe audio card (ALSA driver)");
MODULE_AUTHOR("PcieEmu");
MODULE_LICENSE("GPL");
