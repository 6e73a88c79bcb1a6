// SPDX-License-Identifier: GPL-2.0
/*
 * edu_example: driver for PcieEmu's example device (src/examples/EduDevice/README.md).
 *
 * Everything is in sysfs under the PCI device (/sys/bus/pci/drivers/edu_example/<BDF>/):
 *   id         RO  the ID register
 *   invert     RW  write a value, read back its inverse (the device inverts)
 *   factorial  RW  write N (0..255): the device computes N! and interrupts; read the result
 *   dma_copy   RW  write a length (1..65536): the device copies a pattern buffer into a
 *                  second buffer and interrupts; the driver compares; read "ok N" or why not
 *   irqs       RO  interrupts handled
 */

#include <linux/completion.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#define EDU_VENDOR_ID		0x1234
#define EDU_DEVICE_ID		0xed01
#define EDU_ID_VALUE		0x010000ed

/* BAR0 registers (README.md section 3) */
#define EDU_ID			0x00
#define EDU_INVERT		0x04
#define EDU_FACT_N		0x08
#define EDU_FACT_RESULT		0x10
#define EDU_STATUS		0x20
#define EDU_INT_STATUS		0x24
#define EDU_INT_ENABLE		0x28
#define EDU_DMA_SRC		0x30
#define EDU_DMA_DST		0x38
#define EDU_DMA_LEN		0x40
#define EDU_DMA_CMD		0x44
#define EDU_DMA_ERROR		0x48

#define EDU_INT_FACT_DONE	BIT(0)
#define EDU_INT_DMA_DONE	BIT(1)
#define EDU_INT_DMA_ERROR	BIT(2)
#define EDU_INT_ALL		(EDU_INT_FACT_DONE | EDU_INT_DMA_DONE | EDU_INT_DMA_ERROR)
#define EDU_DMA_START		BIT(0)

#define EDU_BUF_SIZE		SZ_64K
#define EDU_TIMEOUT		msecs_to_jiffies(5000)

struct edu {
	struct pci_dev *pdev;
	void __iomem *regs;
	struct mutex lock;		/* one operation at a time */
	struct completion fact_done;
	struct completion dma_done;
	void *src;
	void *dst;
	dma_addr_t src_bus;
	dma_addr_t dst_bus;
	u64 fact_result;
	char dma_result[48];
	unsigned long irqs;
	u8 seq;
};

static void edu_write64(struct edu *edu, u32 reg, u64 value)
{
	iowrite32(lower_32_bits(value), edu->regs + reg);
	iowrite32(upper_32_bits(value), edu->regs + reg + 4);
}

static irqreturn_t edu_irq(int irq, void *data)
{
	struct edu *edu = data;
	u32 status = ioread32(edu->regs + EDU_INT_STATUS);

	if (!status)
		return IRQ_NONE;

	iowrite32(status, edu->regs + EDU_INT_STATUS);	/* W1C */
	edu->irqs++;
	if (status & EDU_INT_FACT_DONE)
		complete(&edu->fact_done);
	if (status & (EDU_INT_DMA_DONE | EDU_INT_DMA_ERROR))
		complete(&edu->dma_done);
	return IRQ_HANDLED;
}

static ssize_t id_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct edu *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "0x%08x\n", ioread32(edu->regs + EDU_ID));
}
static DEVICE_ATTR_RO(id);

static ssize_t invert_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct edu *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "0x%08x\n", ioread32(edu->regs + EDU_INVERT));
}

static ssize_t invert_store(struct device *dev, struct device_attribute *attr,
			    const char *buf, size_t count)
{
	struct edu *edu = dev_get_drvdata(dev);
	u32 value;
	int ret;

	ret = kstrtou32(buf, 0, &value);
	if (ret)
		return ret;
	iowrite32(value, edu->regs + EDU_INVERT);
	return count;
}
static DEVICE_ATTR_RW(invert);

static ssize_t factorial_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct edu *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%llu\n", edu->fact_result);
}

static ssize_t factorial_store(struct device *dev, struct device_attribute *attr,
			       const char *buf, size_t count)
{
	struct edu *edu = dev_get_drvdata(dev);
	u32 n, lo, hi;
	int ret;

	ret = kstrtou32(buf, 0, &n);
	if (ret)
		return ret;
	if (n > 255)
		return -EINVAL;

	mutex_lock(&edu->lock);
	reinit_completion(&edu->fact_done);
	iowrite32(n, edu->regs + EDU_FACT_N);
	if (!wait_for_completion_timeout(&edu->fact_done, EDU_TIMEOUT)) {
		dev_err(dev, "factorial of %u: no interrupt (STATUS 0x%x)\n",
			n, ioread32(edu->regs + EDU_STATUS));
		ret = -ETIMEDOUT;
		goto out;
	}
	lo = ioread32(edu->regs + EDU_FACT_RESULT);
	hi = ioread32(edu->regs + EDU_FACT_RESULT + 4);
	edu->fact_result = ((u64)hi << 32) | lo;
	ret = count;
out:
	mutex_unlock(&edu->lock);
	return ret;
}
static DEVICE_ATTR_RW(factorial);

static ssize_t dma_copy_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct edu *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", edu->dma_result);
}

static ssize_t dma_copy_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct edu *edu = dev_get_drvdata(dev);
	u8 *src = edu->src, *dst = edu->dst;
	u32 len, i, error;
	int ret;

	ret = kstrtou32(buf, 0, &len);
	if (ret)
		return ret;
	if (!len || len > EDU_BUF_SIZE)
		return -EINVAL;

	mutex_lock(&edu->lock);
	edu->seq++;
	for (i = 0; i < len; i++)
		src[i] = (u8)(i * 31 + edu->seq);
	memset(dst, 0, len);

	reinit_completion(&edu->dma_done);
	edu_write64(edu, EDU_DMA_SRC, edu->src_bus);
	edu_write64(edu, EDU_DMA_DST, edu->dst_bus);
	iowrite32(len, edu->regs + EDU_DMA_LEN);
	iowrite32(EDU_DMA_START, edu->regs + EDU_DMA_CMD);
	if (!wait_for_completion_timeout(&edu->dma_done, EDU_TIMEOUT)) {
		scnprintf(edu->dma_result, sizeof(edu->dma_result), "timeout");
		ret = -ETIMEDOUT;
		goto out;
	}

	error = ioread32(edu->regs + EDU_DMA_ERROR);
	if (error) {
		scnprintf(edu->dma_result, sizeof(edu->dma_result), "error %u", error);
		ret = -EIO;
		goto out;
	}

	for (i = 0; i < len && src[i] == dst[i]; i++)
		;
	if (i < len) {
		scnprintf(edu->dma_result, sizeof(edu->dma_result), "mismatch at %u", i);
		ret = -EIO;
		goto out;
	}

	scnprintf(edu->dma_result, sizeof(edu->dma_result), "ok %u", len);
	ret = count;
out:
	mutex_unlock(&edu->lock);
	return ret;
}
static DEVICE_ATTR_RW(dma_copy);

static ssize_t irqs_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct edu *edu = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%lu\n", edu->irqs);
}
static DEVICE_ATTR_RO(irqs);

static struct attribute *edu_attrs[] = {
	&dev_attr_id.attr,
	&dev_attr_invert.attr,
	&dev_attr_factorial.attr,
	&dev_attr_dma_copy.attr,
	&dev_attr_irqs.attr,
	NULL,
};
ATTRIBUTE_GROUPS(edu);

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct edu *edu;
	u32 ident;
	int ret;

	edu = devm_kzalloc(dev, sizeof(*edu), GFP_KERNEL);
	if (!edu)
		return -ENOMEM;
	edu->pdev = pdev;
	mutex_init(&edu->lock);
	init_completion(&edu->fact_done);
	init_completion(&edu->dma_done);
	strscpy(edu->dma_result, "none", sizeof(edu->dma_result));

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), KBUILD_MODNAME);
	if (ret)
		return ret;
	edu->regs = pcim_iomap_table(pdev)[0];

	ident = ioread32(edu->regs + EDU_ID);
	if (ident != EDU_ID_VALUE) {
		dev_err(dev, "unexpected ID 0x%08x\n", ident);
		return -ENODEV;
	}

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;
	edu->src = dmam_alloc_coherent(dev, EDU_BUF_SIZE, &edu->src_bus, GFP_KERNEL);
	edu->dst = dmam_alloc_coherent(dev, EDU_BUF_SIZE, &edu->dst_bus, GFP_KERNEL);
	if (!edu->src || !edu->dst)
		return -ENOMEM;
	pci_set_master(pdev);

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSIX);
	if (ret < 0)
		return ret;
	ret = request_irq(pci_irq_vector(pdev, 0), edu_irq, 0, KBUILD_MODNAME, edu);
	if (ret) {
		pci_free_irq_vectors(pdev);
		return ret;
	}

	pci_set_drvdata(pdev, edu);
	iowrite32(EDU_INT_ALL, edu->regs + EDU_INT_ENABLE);
	dev_info(dev, "edu example device 0x%08x, MSI-X irq %d\n", ident, pci_irq_vector(pdev, 0));
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct edu *edu = pci_get_drvdata(pdev);

	iowrite32(0, edu->regs + EDU_INT_ENABLE);
	free_irq(pci_irq_vector(pdev, 0), edu);
	pci_free_irq_vectors(pdev);
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR_ID, EDU_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = KBUILD_MODNAME,
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
	.dev_groups = edu_groups,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("Driver for the PcieEmu example device (edu-like)");
MODULE_LICENSE("GPL");
