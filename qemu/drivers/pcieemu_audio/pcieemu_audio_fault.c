// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: deliberate driver bugs. Each fault (pea_fault, switched
 * through debugfs) makes the driver break one rule of the card the way a real
 * driver bug would, so the host tests can show the card catching it with the
 * right rule and the first bad access (spec §14). With the fault "none" none
 * of this code changes what the driver does.
 */

#include <linux/bitfield.h>
#include <linux/bits.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/pci.h>

#include <sound/core.h>
#include <sound/pcm.h>

#include "pcieemu_audio.h"

/* PEA_FAULT_WRONG_DIR: unmap and free the other-direction buffer, if any. */
void pea_fault_buf_free(struct pea_stream *st)
{
	struct device *dev = &st->pea->pdev->dev;

	if (!st->fault_buf)
		return;
	dma_unmap_single(dev, st->fault_dma, st->fault_size, st->fault_dir);
	free_pages_exact(st->fault_buf, st->fault_size);
	st->fault_buf = NULL;
}

/*
 * PEA_FAULT_WRONG_DIR: @size bytes streaming-mapped for the direction the
 * stream does not use, DMA_TO_DEVICE (the card may only read them) for
 * capture and DMA_FROM_DEVICE for playback. Behind an IOMMU the mapping
 * grants the card just that permission.
 */
static int pea_fault_buf_alloc(struct pea_stream *st, size_t size)
{
	struct device *dev = &st->pea->pdev->dev;

	pea_fault_buf_free(st);
	st->fault_buf = alloc_pages_exact(size, GFP_KERNEL | __GFP_ZERO);
	if (!st->fault_buf)
		return -ENOMEM;
	st->fault_dir = st->capture ? DMA_TO_DEVICE : DMA_FROM_DEVICE;
	st->fault_size = size;
	st->fault_dma = dma_map_single(dev, st->fault_buf, size, st->fault_dir);
	if (dma_mapping_error(dev, st->fault_dma)) {
		free_pages_exact(st->fault_buf, size);
		st->fault_buf = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* An address the client never maps: 15/16 of the card's address space (0xf000000000 at 40 bits). */
static u64 pea_fault_unmapped_addr(struct pea_dev *pea)
{
	unsigned int bits = clamp(pea->addr_bits, 8U, 64U);

	return 0xfULL << (bits - 4);
}

/* An offset that breaks 2^ALIGN_LOG2 alignment: 4 bytes, or half the alignment if smaller. */
static u64 pea_fault_misalign_offset(struct pea_dev *pea)
{
	if (pea->align_log2 > 2)
		return 4;
	return pea->align_log2 ? 1ULL << (pea->align_log2 - 1) : 0;
}

static void pea_fault_set(struct pea_bdl_entry *e, u64 addr, u32 len, u32 flags)
{
	e->addr = cpu_to_le64(addr);
	e->len = cpu_to_le32(len);
	e->flags = cpu_to_le32(flags);
}

/*
 * Prepare: breaks the descriptor list, SD_CBL or SD_FMT (@fmt) the way
 * @fault says, after the driver built them correctly. Returns 0 or a
 * negative errno when the fault cannot be set up.
 */
int pea_fault_apply(struct pea_stream *st, struct snd_pcm_runtime *rt, enum pea_fault fault,
		    unsigned int period_bytes, u32 *fmt)
{
	struct pea_dev *pea = st->pea;
	struct device *dev = &pea->pdev->dev;
	struct pea_bdl_entry *d0 = &st->bdl[0];
	u64 addr0 = le64_to_cpu(d0->addr);
	u32 len0 = le32_to_cpu(d0->len);
	unsigned int k;
	u64 a;
	int ret;

	if (fault != PEA_FAULT_WRONG_DIR)
		pea_fault_buf_free(st);
	/* Bus mastering comes back with the first prepare after no_bus_master. */
	if (fault != PEA_FAULT_NO_BUS_MASTER && !pea->pdev->is_busmaster)
		pci_set_master(pea->pdev);

	switch (fault) {
	case PEA_FAULT_NONE:
		break;
	case PEA_FAULT_BDL_OUTSIDE:
		d0->addr = cpu_to_le64(pea_fault_unmapped_addr(pea));
		dev_warn(dev, "stream %u: fault bdl_outside: descriptor 0 at 0x%llx\n",
			 st->index, pea_fault_unmapped_addr(pea));
		break;
	case PEA_FAULT_MISALIGN:
		d0->addr = cpu_to_le64(addr0 + pea_fault_misalign_offset(pea));
		dev_warn(dev, "stream %u: fault misalign: descriptor 0 at 0x%llx + %llu\n",
			 st->index, addr0, pea_fault_misalign_offset(pea));
		break;
	case PEA_FAULT_START_BEFORE_BDL:
		dev_warn(dev, "stream %u: fault start_before_bdl: RUN before SD_BDL/SD_BDLN\n",
			 st->index);
		break;
	case PEA_FAULT_PAST_END:
		/* The off-by-one: one descriptor more, for the bytes just past the buffer (a full list: the last replaced). */
		k = min(st->bdln, PEA_BDL_MAX - 1U);
		a = rt->dma_addr + (u64)rt->periods * period_bytes;
		dev_warn(dev, "stream %u: fault past_end: descriptor %u at 0x%llx, past the %u-byte buffer at %pad\n",
			 st->index, k, a, rt->periods * period_bytes, &rt->dma_addr);
		if (k < st->bdln)
			st->cbl -= le32_to_cpu(st->bdl[k].len);
		pea_fault_set(&st->bdl[k], a, min(period_bytes, st->seg_max), PEA_BDL_FLAG_IOC);
		st->cbl += min(period_bytes, st->seg_max);
		st->bdln = k + 1;
		break;
	case PEA_FAULT_USE_AFTER_UNMAP:
		dev_warn(dev, "stream %u: fault use_after_unmap: RUN stays set at stop; buffer at %pad, %u bytes\n",
			 st->index, &rt->dma_addr, st->cbl);
		break;
	case PEA_FAULT_WRONG_DIR:
		ret = pea_fault_buf_alloc(st, st->cbl);
		if (ret < 0) {
			dev_err(dev, "stream %u: fault wrong_dir: no %u-byte buffer: %d\n",
				st->index, st->cbl, ret);
			return ret;
		}
		for (k = 0; k < st->bdln; k++)
			st->bdl[k].addr = cpu_to_le64(st->fault_dma +
						      (le64_to_cpu(st->bdl[k].addr) - rt->dma_addr));
		dev_warn(dev, "stream %u: fault wrong_dir: descriptors at %pad, mapped %s\n",
			 st->index, &st->fault_dma,
			 st->fault_dir == DMA_TO_DEVICE ? "DMA_TO_DEVICE" : "DMA_FROM_DEVICE");
		break;
	case PEA_FAULT_SEG_OVER_MAXSEG:
		/* Forgot to split: descriptor 0 one alignment unit over MAXSEG. */
		d0->len = cpu_to_le32(pea->maxseg + BIT(pea->align_log2));
		dev_warn(dev, "stream %u: fault seg_over_maxseg: descriptor 0 is %u bytes (MAXSEG %u)\n",
			 st->index, le32_to_cpu(d0->len), pea->maxseg);
		break;
	case PEA_FAULT_DMA_MASK_IGNORED:
		/* As if a 64-bit mask had given a buffer above the card's address bits. */
		if (pea->addr_bits >= 64) {
			dev_warn(dev, "stream %u: fault dma_mask_ignored: no effect, the card has 64 address bits\n",
				 st->index);
			break;
		}
		d0->addr = cpu_to_le64(addr0 | BIT_ULL(pea->addr_bits));
		dev_warn(dev, "stream %u: fault dma_mask_ignored: descriptor 0 at 0x%llx (%u address bits)\n",
			 st->index, addr0 | BIT_ULL(pea->addr_bits), pea->addr_bits);
		break;
	case PEA_FAULT_BOUNDARY_CROSS:
		/* As if dma_set_seg_boundary had been skipped: descriptor 0 straddles the line. */
		if (!pea->boundary_bits || pea->boundary_bits >= 64 || len0 <= BIT(pea->align_log2)) {
			dev_warn(dev, "stream %u: fault boundary_cross: no effect, the card has no boundary rule\n",
				 st->index);
			break;
		}
		a = BIT_ULL(pea->boundary_bits) - BIT(pea->align_log2);
		d0->addr = cpu_to_le64(a);
		dev_warn(dev, "stream %u: fault boundary_cross: descriptor 0 at 0x%llx, %u bytes, across 2^%u\n",
			 st->index, a, len0, pea->boundary_bits);
		break;
	case PEA_FAULT_PERIOD_NOT_FRAMES:
		/* A period size computed in bytes, off by one: no whole number of frames. */
		d0->len = cpu_to_le32(len0 - 1);
		st->cbl -= 1;
		dev_warn(dev, "stream %u: fault period_not_frames: descriptor 0 is %u bytes\n",
			 st->index, len0 - 1);
		break;
	case PEA_FAULT_BDL_COUNT_WRONG:
		dev_warn(dev, "stream %u: fault bdl_count_wrong: SD_BDLN %u for %u descriptors, SD_CBL %u\n",
			 st->index, st->bdln - 1, st->bdln, st->cbl);
		break;
	case PEA_FAULT_BDL_TOO_LONG:
		dev_warn(dev, "stream %u: fault bdl_too_long: SD_BDLN %u\n", st->index, PEA_BDL_MAX + 1);
		break;
	case PEA_FAULT_DESC_RESERVED:
		d0->flags |= cpu_to_le32(BIT(31));
		dev_warn(dev, "stream %u: fault desc_reserved: descriptor 0 FLAGS 0x%x\n",
			 st->index, le32_to_cpu(d0->flags));
		break;
	case PEA_FAULT_BAD_FORMAT:
		/* A rate code from a table the card does not have. */
		*fmt = (*fmt & ~PEA_SD_FMT_RATE) | FIELD_PREP(PEA_SD_FMT_RATE, 0xf);
		dev_warn(dev, "stream %u: fault bad_format: SD_FMT 0x%x\n", st->index, *fmt);
		break;
	case PEA_FAULT_REPROGRAM_RUNNING:
		dev_warn(dev, "stream %u: fault reprogram_running: SD_FMT written again after RUN\n",
			 st->index);
		break;
	case PEA_FAULT_NO_BUS_MASTER:
		pci_clear_master(pea->pdev);
		dev_warn(dev, "stream %u: fault no_bus_master: bus mastering off\n", st->index);
		break;
	case PEA_FAULT_DMA_OWN_BAR:
		a = pci_bus_address(pea->pdev, PEA_REGS_BAR);
		d0->addr = cpu_to_le64(a);
		dev_warn(dev, "stream %u: fault dma_own_bar: descriptor 0 at BAR%d, 0x%llx\n",
			 st->index, PEA_REGS_BAR, a);
		break;
	case PEA_FAULT_IRQ_NOT_ACKED:
		dev_warn(dev, "stream %u: fault irq_not_acked: SD_STS.IOC is never written back\n",
			 st->index);
		break;
	case PEA_FAULT_SUSPEND_RUNNING:
		dev_warn(dev, "stream %u: fault suspend_running: the suspend trigger will leave RUN set\n",
			 st->index);
		break;
	case PEA_FAULT_HI_LO_WRITEQ:
		dev_warn(dev, "stream %u: fault hi_lo_writeq: SD_BDL written high half first\n",
			 st->index);
		break;
	default:
		break;
	}
	return 0;
}

/* Prepare: the SD_BDLN value the driver writes (the real count unless a fault says otherwise). */
u32 pea_fault_bdln(const struct pea_stream *st, enum pea_fault fault)
{
	switch (fault) {
	case PEA_FAULT_START_BEFORE_BDL:
		return 0;
	case PEA_FAULT_BDL_COUNT_WRONG:
		return st->bdln - 1;
	case PEA_FAULT_BDL_TOO_LONG:
		return PEA_BDL_MAX + 1;
	default:
		return st->bdln;
	}
}
