// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: diagnostics. The interrupt self-test (DIAG_IRQ, spec §5),
 * the diagnostic DMA engine (spec §6.2) and a SCRATCH register round trip,
 * driven from sysfs attributes on the PCI device.
 */

#include <linux/bitfield.h>
#include <linux/completion.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#include "pcieemu_audio.h"

/* The buffer is MAXSEG bytes, but never more than this. */
#define PEA_DIAG_BUF_MAX	SZ_4M
#define PEA_DIAG_TIMEOUT_MS	5000

#define PEA_FNV1A_BASIS		0x811c9dc5U
#define PEA_FNV1A_PRIME		0x01000193U
#define PEA_PATTERN_STEP	0x9e3779b9U

static const char * const pea_dma_err_names[] = {
	[PEA_DMA_ERR_NONE] = "NONE",
	[PEA_DMA_ERR_UNMAPPED] = "UNMAPPED",
	[PEA_DMA_ERR_DENIED] = "DENIED",
	[PEA_DMA_ERR_BUS_MASTER] = "BUS_MASTER",
	[PEA_DMA_ERR_OWN_BAR] = "OWN_BAR",
	[PEA_DMA_ERR_ADDR_BITS] = "ADDR_BITS",
	[PEA_DMA_ERR_ALIGN] = "ALIGN",
	[PEA_DMA_ERR_LENGTH] = "LENGTH",
	[PEA_DMA_ERR_TRANSPORT] = "TRANSPORT",
	[PEA_DMA_ERR_DESC_RESERVED] = "DESC_RESERVED",
	[PEA_DMA_ERR_CBL] = "CBL",
	[PEA_DMA_ERR_FORMAT] = "FORMAT",
	[PEA_DMA_ERR_NO_BDL] = "NO_BDL",
	[PEA_DMA_ERR_BOUNDARY] = "BOUNDARY",
	[PEA_DMA_ERR_FRAME] = "FRAME",
	[PEA_DMA_ERR_BDL_LENGTH] = "BDL_LENGTH",
	[PEA_DMA_ERR_POWER] = "POWER",
};

/* ERRCODE name of DIAG_DMA_STS and SD_STS (spec §6.3). */
const char *pea_dma_err_name(unsigned int code)
{
	if (code < ARRAY_SIZE(pea_dma_err_names) && pea_dma_err_names[code])
		return pea_dma_err_names[code];
	return "UNKNOWN";
}

/* 32-bit FNV-1a, as the card computes it for a DMA read (spec §6.2). */
static u32 pea_fnv1a(const u8 *p, u32 len)
{
	u32 h = PEA_FNV1A_BASIS;

	while (len--) {
		h ^= *p++;
		h *= PEA_FNV1A_PRIME;
	}
	return h;
}

/* Byte @i of the pattern a DMA write with @seed produces (spec §6.2). */
static u8 pea_pattern_byte(u32 seed, u32 i)
{
	u32 word = seed ^ ((i / 4) * PEA_PATTERN_STEP);

	return (word >> (8 * (i % 4))) & 0xff;
}

static void pea_pattern_fill(u8 *p, u32 len, u32 seed)
{
	u32 i;

	for (i = 0; i < len; i++)
		p[i] = pea_pattern_byte(seed, i);
}

static __printf(2, 3) void pea_diag_set_result(struct pea_dev *pea, const char *fmt, ...)
{
	struct pea_diag *d = &pea->diag;
	char line[PEA_DIAG_RESULT_LEN];
	unsigned long flags;
	va_list args;

	va_start(args, fmt);
	vscnprintf(line, sizeof(line), fmt, args);
	va_end(args);

	spin_lock_irqsave(&d->result_lock, flags);
	strscpy(d->result, line, sizeof(d->result));
	spin_unlock_irqrestore(&d->result_lock, flags);
}

/* Called from the interrupt handler with the INTSTS bits it acknowledged. */
void pea_diag_irq(struct pea_dev *pea, u32 intsts)
{
	if (intsts & (PEA_INTSTS_DMA_DONE | PEA_INTSTS_DMA_ERR))
		complete(&pea->diag.done);
}

/*
 * One diagnostic DMA transfer of @len bytes at buffer offset @off, then the
 * check of its outcome. Runs with diag.lock held; the result goes to
 * diag.result.
 */
static void pea_diag_run(struct pea_dev *pea, bool write, u32 len, u32 seed, u32 off)
{
	struct pea_diag *d = &pea->diag;
	struct device *dev = &pea->pdev->dev;
	u8 *buf = (u8 *)d->buf + off;
	unsigned long left = msecs_to_jiffies(PEA_DIAG_TIMEOUT_MS);
	u32 expect = 0, sts, result, i;

	if (write) {
		memset(buf, 0, len);
	} else {
		pea_pattern_fill(buf, len, seed);
		expect = pea_fnv1a(buf, len);
	}

	/*
	 * Spec §6.2 programming order. writel() orders the buffer stores above
	 * before the START write reaches the card.
	 */
	reinit_completion(&d->done);
	lo_hi_writeq(d->buf_dma + off, pea->regs + PEA_REG_DIAG_DMA_ADDR);
	pea_write(pea, PEA_REG_DIAG_DMA_LEN, len);
	pea_write(pea, PEA_REG_DIAG_DMA_SEED, seed);
	pea_write(pea, PEA_REG_DIAG_DMA_CTL,
		  PEA_DIAG_DMA_CTL_START | (write ? PEA_DIAG_DMA_CTL_DIR : 0));

	/* A completion left over from an earlier, timed-out run is skipped. */
	for (;;) {
		left = wait_for_completion_timeout(&d->done, left);
		sts = pea_read(pea, PEA_REG_DIAG_DMA_STS);
		if (!left) {
			pea_diag_set_result(pea, "timeout sts=0x%08x\n", sts);
			if (sts & PEA_DIAG_DMA_STS_BUSY) {
				/* Spec §7: a reset aborts the engine; INTEN must be restored. */
				dev_warn(dev, "diag DMA busy after %d ms, resetting the card\n",
					 PEA_DIAG_TIMEOUT_MS);
				pea_write(pea, PEA_REG_GCTL, PEA_GCTL_RESET);
				pea_write(pea, PEA_REG_INTEN, pea->inten);
				pea_snd_card_reset(pea);
			}
			return;
		}
		if (sts & (PEA_DIAG_DMA_STS_DONE | PEA_DIAG_DMA_STS_ERR))
			break;
	}

	if (sts & PEA_DIAG_DMA_STS_ERR) {
		unsigned int code = FIELD_GET(PEA_DIAG_DMA_STS_ERRCODE, sts);

		pea_diag_set_result(pea, "error code=%u %s\n", code, pea_dma_err_name(code));
		return;
	}

	if (write) {
		for (i = 0; i < len; i++) {
			if (buf[i] != pea_pattern_byte(seed, i)) {
				pea_diag_set_result(pea, "mismatch at %u\n", i);
				return;
			}
		}
		pea_diag_set_result(pea, "ok write len=%u hash=0x%08x\n", len,
				    pea_fnv1a(buf, len));
		return;
	}

	result = pea_read(pea, PEA_REG_DIAG_DMA_RESULT);
	if (result != expect) {
		pea_diag_set_result(pea, "mismatch hash=0x%08x expected=0x%08x\n",
				    result, expect);
		return;
	}
	pea_diag_set_result(pea, "ok read len=%u hash=0x%08x\n", len, result);
}

/* A number in decimal, or in hex with a 0x prefix. */
static int pea_parse_u32(const char *tok, u32 *val)
{
	if (!tok)
		return -EINVAL;
	if (tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X'))
		return kstrtou32(tok + 2, 16, val);
	return kstrtou32(tok, 10, val);
}

static char *pea_next_token(char **s)
{
	char *tok;

	do {
		tok = strsep(s, " \t\n");
	} while (tok && !*tok);
	return tok;
}

/* "read|write <len> <seed> [offset <n>]" */
static int pea_parse_dma_test(char *s, bool *write, u32 *len, u32 *seed, u32 *off)
{
	char *tok;
	int ret;

	tok = pea_next_token(&s);
	if (!tok)
		return -EINVAL;
	if (!strcmp(tok, "read"))
		*write = false;
	else if (!strcmp(tok, "write"))
		*write = true;
	else
		return -EINVAL;

	ret = pea_parse_u32(pea_next_token(&s), len);
	if (ret)
		return ret;
	ret = pea_parse_u32(pea_next_token(&s), seed);
	if (ret)
		return ret;

	*off = 0;
	tok = pea_next_token(&s);
	if (tok) {
		if (strcmp(tok, "offset"))
			return -EINVAL;
		ret = pea_parse_u32(pea_next_token(&s), off);
		if (ret)
			return ret;
		if (pea_next_token(&s))
			return -EINVAL;
	}
	return 0;
}

static ssize_t dma_test_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	struct pea_diag *d = &pea->diag;
	u32 len, seed, off;
	char line[80];
	bool write;
	int ret;

	if (count >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, count);
	line[count] = '\0';

	ret = pea_parse_dma_test(line, &write, &len, &seed, &off);
	if (ret)
		return -EINVAL;
	if (len > d->buf_size || off > d->buf_size - len)
		return -EINVAL;

	if (!mutex_trylock(&d->lock))
		return -EBUSY;
	pea_diag_run(pea, write, len, seed, off);
	mutex_unlock(&d->lock);
	return count;
}

static ssize_t dma_test_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	struct pea_diag *d = &pea->diag;
	unsigned long flags;
	ssize_t len;

	spin_lock_irqsave(&d->result_lock, flags);
	len = sysfs_emit(buf, "%s", d->result);
	spin_unlock_irqrestore(&d->result_lock, flags);
	return len;
}
static DEVICE_ATTR_RW(dma_test);

/* Spec §5: raise DIAG on a vector; the card folds it mod the vectors available. */
static ssize_t diag_irq_store(struct device *dev, struct device_attribute *attr,
			      const char *buf, size_t count)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	unsigned int vector;
	int ret;

	ret = kstrtouint(buf, 10, &vector);
	if (ret)
		return ret;
	if (vector > FIELD_MAX(PEA_DIAG_IRQ_VECTOR))
		return -EINVAL;

	pea_write(pea, PEA_REG_DIAG_IRQ, FIELD_PREP(PEA_DIAG_IRQ_VECTOR, vector));
	return count;
}
static DEVICE_ATTR_WO(diag_irq);

static ssize_t scratch_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);

	return sysfs_emit(buf, "0x%08x\n", pea_read(pea, PEA_REG_SCRATCH));
}

static ssize_t scratch_store(struct device *dev, struct device_attribute *attr,
			     const char *buf, size_t count)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	u32 val;
	int ret;

	ret = kstrtou32(buf, 16, &val);
	if (ret)
		return ret;
	pea_write(pea, PEA_REG_SCRATCH, val);
	return count;
}
static DEVICE_ATTR_RW(scratch);

static struct attribute *pea_diag_attrs[] = {
	&dev_attr_diag_irq.attr,
	&dev_attr_dma_test.attr,
	&dev_attr_scratch.attr,
	NULL,
};

const struct attribute_group pea_diag_group = {
	.attrs = pea_diag_attrs,
};

int pea_diag_init(struct pea_dev *pea)
{
	struct pea_diag *d = &pea->diag;
	struct device *dev = &pea->pdev->dev;
	size_t alloc;

	mutex_init(&d->lock);
	init_completion(&d->done);
	spin_lock_init(&d->result_lock);
	strscpy(d->result, "none\n", sizeof(d->result));

	d->buf_size = min_t(u32, pea->maxseg, PEA_DIAG_BUF_MAX);
	if (d->buf_size < pea->maxseg)
		dev_info(dev, "MAXSEG is %u bytes; dma_test is limited to %u\n",
			 pea->maxseg, d->buf_size);
	alloc = max_t(size_t, d->buf_size, PAGE_SIZE);

	d->buf = dma_alloc_coherent(dev, alloc, &d->buf_dma, GFP_KERNEL);
	if (!d->buf) {
		dev_err(dev, "cannot allocate the %zu-byte diagnostic DMA buffer\n", alloc);
		mutex_destroy(&d->lock);
		return -ENOMEM;
	}
	return 0;
}

/* The card must no longer be able to touch the buffer (reset or quiesced). */
void pea_diag_fini(struct pea_dev *pea)
{
	struct pea_diag *d = &pea->diag;

	if (d->buf) {
		dma_free_coherent(&pea->pdev->dev, max_t(size_t, d->buf_size, PAGE_SIZE),
				  d->buf, d->buf_dma);
		d->buf = NULL;
	}
	mutex_destroy(&d->lock);
}
