// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: PCM streams (spec §9-§11).
 *
 * Each stream is one ALSA PCM device with one substream. The buffer is one
 * DMA-contiguous area (SNDRV_DMA_TYPE_DEV) of whole periods; the descriptor
 * list has one descriptor per period with IOC set, so the card interrupts
 * once per period. The hardware constraints come from SD_CAPS, DMACAPS and
 * MAXSEG only:
 *
 *  - period bytes a multiple of 2^ALIGN_LOG2 and at most MAXSEG, so every
 *    descriptor is one aligned, legal segment;
 *  - at most 256 periods (SD_BDLN limit), an integer number of them;
 *  - with BOUNDARY_BITS, the buffer at most 2^BOUNDARY_BITS bytes: the DMA
 *    allocator aligns a buffer to its size rounded up to a power of two, so
 *    such a buffer never crosses a 2^BOUNDARY_BITS boundary (checked again
 *    in hw_params).
 *
 * The pointer is SD_LPIB, or the position buffer record with posbuf=1.
 */

#include <linux/bitfield.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/delay.h>
#include <linux/gfp.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include <sound/core.h>
#include <sound/pcm.h>
#include <sound/pcm_params.h>

#include "pcieemu_audio.h"

/* Largest buffer: one contiguous DMA allocation. */
#define PEA_BUFFER_MAX		SZ_4M
/* Shortest period the driver offers: below ~1 ms the card's timing (spec §11.1) is too coarse. */
#define PEA_PERIOD_US_MIN	1000
/* How long trigger waits for the card to accept or refuse RUN (validation may need DMA). */
#define PEA_START_TIMEOUT_US	20000

static bool pea_posbuf_param;
module_param_named(posbuf, pea_posbuf_param, bool, 0644);
MODULE_PARM_DESC(posbuf,
		 "Read the stream position from the position buffer (spec 11.3) instead of SD_LPIB; applies at the next prepare");

/* SD_FMT.FORMAT code == bit in SD_CAPS.FORMATS (spec §9.1, §9.2). */
static const struct {
	snd_pcm_format_t alsa;
	u64 bit;
	const char *name;
} pea_formats[] = {
	[PEA_FMT_S16_LE] = { SNDRV_PCM_FORMAT_S16_LE, SNDRV_PCM_FMTBIT_S16_LE, "S16_LE" },
	[PEA_FMT_S24_LE] = { SNDRV_PCM_FORMAT_S24_LE, SNDRV_PCM_FMTBIT_S24_LE, "S24_LE" },
	[PEA_FMT_S32_LE] = { SNDRV_PCM_FORMAT_S32_LE, SNDRV_PCM_FMTBIT_S32_LE, "S32_LE" },
	[PEA_FMT_FLOAT_LE] = { SNDRV_PCM_FORMAT_FLOAT_LE, SNDRV_PCM_FMTBIT_FLOAT_LE, "FLOAT_LE" },
};

/* SD_FMT.RATE code == bit in SD_CAPS.RATES. */
static const struct {
	unsigned int hz;
	unsigned int bit;
} pea_rates[] = {
	[PEA_RATE_HZ_44100] = { 44100, SNDRV_PCM_RATE_44100 },
	[PEA_RATE_HZ_48000] = { 48000, SNDRV_PCM_RATE_48000 },
	[PEA_RATE_HZ_96000] = { 96000, SNDRV_PCM_RATE_96000 },
	[PEA_RATE_HZ_192000] = { 192000, SNDRV_PCM_RATE_192000 },
};

static void pea_join(char *buf, size_t size, const char * const *names, unsigned long mask,
		     unsigned int n)
{
	unsigned int i;
	size_t len = 0;

	buf[0] = '\0';
	for (i = 0; i < n; i++)
		if (mask & BIT(i))
			len += scnprintf(buf + len, size - len, "%s%s", len ? "," : "", names[i]);
	if (!len)
		strscpy(buf, "-", size);
}

void pea_stream_format_names(u32 caps, char *buf, size_t size)
{
	const char *names[ARRAY_SIZE(pea_formats)];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pea_formats); i++)
		names[i] = pea_formats[i].name;
	pea_join(buf, size, names, FIELD_GET(PEA_SD_CAPS_FORMATS, caps), ARRAY_SIZE(names));
}

void pea_stream_rate_names(u32 caps, char *buf, size_t size)
{
	static const char * const names[] = {
		[PEA_RATE_HZ_44100] = "44100",
		[PEA_RATE_HZ_48000] = "48000",
		[PEA_RATE_HZ_96000] = "96000",
		[PEA_RATE_HZ_192000] = "192000",
	};

	pea_join(buf, size, names, FIELD_GET(PEA_SD_CAPS_RATES, caps), ARRAY_SIZE(names));
}

static int pea_format_code(snd_pcm_format_t format)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pea_formats); i++)
		if (pea_formats[i].alsa == format)
			return i;
	return -EINVAL;
}

static int pea_rate_code(unsigned int hz)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(pea_rates); i++)
		if (pea_rates[i].hz == hz)
			return i;
	return -EINVAL;
}

static u64 pea_readq(void __iomem *addr)
{
	return readq(addr);
}

/* Largest buffer the card can take as one segment list (see the top comment). */
static size_t pea_buffer_max(struct pea_dev *pea)
{
	size_t max = PEA_BUFFER_MAX;

	if (pea->boundary_bits && pea->boundary_bits < ilog2(PEA_BUFFER_MAX))
		max = (size_t)1 << pea->boundary_bits;
	return max;
}

static struct pea_posbuf_rec *pea_posbuf_rec(struct pea_stream *st)
{
	return st->pea->posbuf + (size_t)st->index * st->pea->posbuf_stride;
}

static dma_addr_t pea_posbuf_dma(struct pea_stream *st)
{
	return st->pea->posbuf_dma + (dma_addr_t)st->index * st->pea->posbuf_stride;
}

/* --- deliberate faults ------------------------------------------------------ */

/* PEA_FAULT_WRONG_DIR: unmap and free the other-direction buffer, if any. */
static void pea_fault_buf_free(struct pea_stream *st)
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

/* --- stop ------------------------------------------------------------------ */

/* Clears RUN; the card stops before the write completes (spec §9.3). */
static void pea_stream_stop(struct pea_stream *st)
{
	unsigned long flags;

	spin_lock_irqsave(&st->lock, flags);
	st->running = false;
	pea_sd_write(st, PEA_SD_CTL, st->ctl);
	pea_sd_read(st, PEA_SD_STS);	/* flush the posted write */
	spin_unlock_irqrestore(&st->lock, flags);
}

/* PEA_FAULT_USE_AFTER_UNMAP: stopped for the driver only; RUN stays set. */
static void pea_stream_forget(struct pea_stream *st)
{
	unsigned long flags;

	spin_lock_irqsave(&st->lock, flags);
	st->running = false;
	spin_unlock_irqrestore(&st->lock, flags);
}

/* Suspend: make sure no stream runs, whatever ALSA thinks. */
void pea_streams_stop_all(struct pea_dev *pea)
{
	unsigned int i;

	for (i = 0; i < pea->nstreams; i++)
		if (pea->streams[i].pcm)
			pea_stream_stop(&pea->streams[i]);
}

/* Stop a substream from the interrupt handler with @state (XRUN or DISCONNECTED). */
static void pea_substream_fail(struct snd_pcm_substream *substream, snd_pcm_state_t state)
{
	unsigned long flags;

	snd_pcm_stream_lock_irqsave(substream, flags);
	if (snd_pcm_running(substream))
		snd_pcm_stop(substream, state);
	snd_pcm_stream_unlock_irqrestore(substream, flags);
}

/* --- interrupts ------------------------------------------------------------- */

/* Spec §8 step 13, §9.4: stream @st has an enabled cause pending. */
static void pea_stream_irq(struct pea_stream *st)
{
	struct device *dev = &st->pea->pdev->dev;
	struct snd_pcm_substream *substream;
	unsigned int code;
	u32 sts, causes;

	spin_lock(&st->lock);
	sts = pea_sd_read(st, PEA_SD_STS);
	if (sts == ~0U) {			/* not answering */
		spin_unlock(&st->lock);
		pea_check_gone(st->pea);
		return;
	}
	WRITE_ONCE(st->last_irq, jiffies);
	causes = sts & PEA_SD_STS_CAUSES;
	if (causes)
		pea_sd_write(st, PEA_SD_STS, causes);	/* W1C acknowledge */
	substream = st->running ? st->substream : NULL;
	if (causes & PEA_SD_STS_ERR)
		st->running = false;		/* the card cleared RUN */
	spin_unlock(&st->lock);

	if (causes & PEA_SD_STS_IOC)
		atomic_inc(&st->ioc_count);
	if (causes & PEA_SD_STS_XRUN)
		atomic_inc(&st->xrun_count);
	if (causes & PEA_SD_STS_ERR)
		atomic_inc(&st->err_count);

	code = FIELD_GET(PEA_SD_STS_ERRCODE, sts);
	if (!substream) {
		/* A stream the driver let go of still did DMA (use_after_unmap). */
		if (causes & PEA_SD_STS_ERR)
			dev_err_ratelimited(dev, "stream %u: the card reported ERRCODE %u (%s) while stopped\n",
					    st->index, code, pea_dma_err_name(code));
		return;
	}

	if (causes & PEA_SD_STS_ERR) {
		dev_err_ratelimited(dev, "stream %u stopped by the card: ERRCODE %u (%s)\n",
				    st->index, code, pea_dma_err_name(code));
		/* TRANSPORT: the host lost its client, nothing will come back (spec §7). */
		pea_substream_fail(substream, code == PEA_DMA_ERR_TRANSPORT ?
				   SNDRV_PCM_STATE_DISCONNECTED : SNDRV_PCM_STATE_XRUN);
		return;
	}
	if (causes & PEA_SD_STS_XRUN) {
		dev_warn_ratelimited(dev, "stream %u: the card fell behind (XRUN)\n", st->index);
		snd_pcm_stop_xrun(substream);
		return;
	}
	if (causes & PEA_SD_STS_IOC)
		snd_pcm_period_elapsed(substream);
}

/* Called by the interrupt handler with INTSTS.SIS (spec §9.4). */
void pea_streams_irq(struct pea_dev *pea, unsigned long sis)
{
	unsigned int i;

	for_each_set_bit(i, &sis, pea->nstreams)
		pea_stream_irq(&pea->streams[i]);
}

/* --- PCM operations ---------------------------------------------------------- */

static const struct snd_pcm_hardware pea_pcm_hw = {
	.info = SNDRV_PCM_INFO_MMAP |
		SNDRV_PCM_INFO_MMAP_VALID |
		SNDRV_PCM_INFO_INTERLEAVED |
		SNDRV_PCM_INFO_BLOCK_TRANSFER |
		SNDRV_PCM_INFO_HAS_LINK_ATIME,
	.channels_min = 1,
	.periods_min = 2,
	.periods_max = PEA_BDL_MAX,
};

static int pea_pcm_open(struct snd_pcm_substream *substream)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	struct pea_dev *pea = st->pea;
	struct snd_pcm_runtime *rt = substream->runtime;
	unsigned int align = 1U << pea->align_log2;
	size_t bufmax = pea_buffer_max(pea);
	int ret;

	rt->hw = pea_pcm_hw;
	rt->hw.formats = st->formats;
	rt->hw.rates = st->rates;
	rt->hw.channels_max = st->maxch;
	rt->hw.buffer_bytes_max = bufmax;
	rt->hw.period_bytes_min = align;
	rt->hw.period_bytes_max = min_t(size_t, rounddown(pea->maxseg, align), bufmax / 2);
	ret = snd_pcm_limit_hw_rates(rt);
	if (ret < 0)
		return ret;

	ret = snd_pcm_hw_constraint_integer(rt, SNDRV_PCM_HW_PARAM_PERIODS);
	if (ret < 0)
		return ret;
	/* Every descriptor address (buffer start + k * period) stays aligned. */
	ret = snd_pcm_hw_constraint_step(rt, 0, SNDRV_PCM_HW_PARAM_PERIOD_BYTES, align);
	if (ret < 0)
		return ret;
	ret = snd_pcm_hw_constraint_minmax(rt, SNDRV_PCM_HW_PARAM_PERIOD_TIME,
					   PEA_PERIOD_US_MIN, UINT_MAX);
	if (ret < 0)
		return ret;

	/* The list: 256 entries of 16 bytes, aligned like any DMA address (spec §10 rule 1). */
	st->bdl_alloc = max_t(size_t, PEA_BDL_MAX * sizeof(struct pea_bdl_entry), align);
	st->bdl = dma_alloc_coherent(&pea->pdev->dev, st->bdl_alloc, &st->bdl_dma, GFP_KERNEL);
	if (!st->bdl)
		return -ENOMEM;
	if (st->bdl_dma & (align - 1)) {
		dev_err(&pea->pdev->dev, "stream %u: descriptor list at %pad is not %u-byte aligned\n",
			st->index, &st->bdl_dma, align);
		dma_free_coherent(&pea->pdev->dev, st->bdl_alloc, st->bdl, st->bdl_dma);
		st->bdl = NULL;
		return -ENOMEM;
	}

	mutex_lock(&st->open_lock);
	spin_lock_irq(&st->lock);
	st->substream = substream;
	st->running = false;
	spin_unlock_irq(&st->lock);
	mutex_unlock(&st->open_lock);
	return 0;
}

static int pea_pcm_close(struct snd_pcm_substream *substream)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	struct pea_dev *pea = st->pea;

	mutex_lock(&st->open_lock);
	spin_lock_irq(&st->lock);
	st->substream = NULL;
	st->running = false;
	st->ctl = 0;
	spin_unlock_irq(&st->lock);
	mutex_unlock(&st->open_lock);

	if (st->fault == PEA_FAULT_USE_AFTER_UNMAP) {
		/* The deliberate bug: the card keeps running on what ALSA freed. */
		dev_warn(&pea->pdev->dev, "stream %u: fault use_after_unmap: closed with RUN still set\n",
			 st->index);
	} else {
		/* Idle the stream: no RUN, no interrupt enables, nothing pointing at our memory. */
		pea_sd_write(st, PEA_SD_CTL, 0);
		pea_sd_write(st, PEA_SD_STS, PEA_SD_STS_CAUSES);
		writeq(0, st->regs + PEA_SD_POSBUF);
		writeq(0, st->regs + PEA_SD_BDL);
		pea_sd_write(st, PEA_SD_BDLN, 0);
		pea_sd_write(st, PEA_SD_CBL, 0);
		pea_sd_read(st, PEA_SD_STS);
	}
	pea_sync_irqs(pea);

	pea_fault_buf_free(st);
	dma_free_coherent(&pea->pdev->dev, st->bdl_alloc, st->bdl, st->bdl_dma);
	st->bdl = NULL;
	return 0;
}

/* The buffer is allocated (managed); check it fits the card's DMA rules (spec §6.1, §10). */
static int pea_pcm_hw_params(struct snd_pcm_substream *substream, struct snd_pcm_hw_params *params)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	struct pea_dev *pea = st->pea;
	struct device *dev = &pea->pdev->dev;
	struct snd_pcm_runtime *rt = substream->runtime;
	unsigned int period_bytes = params_period_bytes(params);
	unsigned int periods = params_periods(params);
	dma_addr_t addr = rt->dma_addr;
	unsigned int k;

	if (periods > PEA_BDL_MAX || period_bytes > pea->maxseg ||
	    (size_t)period_bytes * periods > rt->dma_bytes) {
		dev_err(dev, "stream %u: %u periods of %u bytes do not fit the card\n",
			st->index, periods, period_bytes);
		return -EINVAL;
	}
	if (addr & ((1ULL << pea->align_log2) - 1)) {
		dev_err(dev, "stream %u: buffer at %pad is not aligned to 2^%u\n",
			st->index, &addr, pea->align_log2);
		return -EINVAL;
	}
	if (pea->boundary_bits && pea->boundary_bits < 64) {
		for (k = 0; k < periods; k++) {
			u64 start = addr + (u64)k * period_bytes;
			u64 end = start + period_bytes - 1;

			if ((start >> pea->boundary_bits) != (end >> pea->boundary_bits)) {
				dev_err(dev, "stream %u: period %u crosses a 2^%u boundary\n",
					st->index, k, pea->boundary_bits);
				return -EINVAL;
			}
		}
	}
	return 0;
}

/* The managed buffer is freed after this; a wrong_dir buffer goes now. */
static int pea_pcm_hw_free(struct snd_pcm_substream *substream)
{
	pea_fault_buf_free(snd_pcm_substream_chip(substream));
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

/* Spec §8 step 11: with RUN clear, program the format, the list and the enables. */
static int pea_pcm_prepare(struct snd_pcm_substream *substream)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	struct pea_dev *pea = st->pea;
	struct device *dev = &pea->pdev->dev;
	struct snd_pcm_runtime *rt = substream->runtime;
	unsigned int period_bytes = snd_pcm_lib_period_bytes(substream);
	unsigned int periods = rt->periods;
	enum pea_fault fault = READ_ONCE(pea->fault);
	bool use_posbuf = READ_ONCE(pea_posbuf_param);
	int fmt_code, rate_code;
	unsigned long flags;
	u64 bdl_addr, posbuf = 0;
	unsigned int k;
	u32 fmt;
	int ret;

	fmt_code = pea_format_code(rt->format);
	rate_code = pea_rate_code(rt->rate);
	if (fmt_code < 0 || rate_code < 0 || rt->channels < 1 || rt->channels > st->maxch) {
		dev_err(dev, "stream %u: format %d, %u Hz, %u channels not offered\n",
			st->index, (__force int)rt->format, rt->rate, rt->channels);
		return -EINVAL;
	}
	fmt = FIELD_PREP(PEA_SD_FMT_FORMAT, fmt_code) |
	      FIELD_PREP(PEA_SD_FMT_RATE, rate_code) |
	      FIELD_PREP(PEA_SD_FMT_CHANNELS, rt->channels - 1);

	/* One descriptor per period, IOC on each (spec §10). */
	for (k = 0; k < periods; k++) {
		u64 addr = rt->dma_addr + (u64)k * period_bytes;

		st->bdl[k].addr = cpu_to_le64(addr);
		st->bdl[k].len = cpu_to_le32(period_bytes);
		st->bdl[k].flags = cpu_to_le32(PEA_BDL_FLAG_IOC);
	}
	st->bdln = periods;
	st->cbl = period_bytes * periods;

	if (fault != PEA_FAULT_WRONG_DIR)
		pea_fault_buf_free(st);

	switch (fault) {
	case PEA_FAULT_BDL_OUTSIDE:
		st->bdl[0].addr = cpu_to_le64(pea_fault_unmapped_addr(pea));
		dev_warn(dev, "stream %u: fault bdl_outside: descriptor 0 at 0x%llx\n",
			 st->index, pea_fault_unmapped_addr(pea));
		break;
	case PEA_FAULT_MISALIGN:
		st->bdl[0].addr = cpu_to_le64(rt->dma_addr + pea_fault_misalign_offset(pea));
		dev_warn(dev, "stream %u: fault misalign: descriptor 0 at %pad + %llu\n",
			 st->index, &rt->dma_addr, pea_fault_misalign_offset(pea));
		break;
	case PEA_FAULT_START_BEFORE_BDL:
		dev_warn(dev, "stream %u: fault start_before_bdl: RUN before SD_BDL/SD_BDLN\n",
			 st->index);
		break;
	case PEA_FAULT_PAST_END:
		/* The off-by-one: a descriptor for period number "periods" too. */
		k = min(periods, PEA_BDL_MAX - 1U);
		st->bdl[k].addr = cpu_to_le64(rt->dma_addr + (u64)periods * period_bytes);
		st->bdl[k].len = cpu_to_le32(period_bytes);
		st->bdl[k].flags = cpu_to_le32(PEA_BDL_FLAG_IOC);
		st->bdln = k + 1;
		st->cbl = period_bytes * st->bdln;
		dev_warn(dev, "stream %u: fault past_end: descriptor %u at 0x%llx, past the %u-byte buffer at %pad\n",
			 st->index, k, rt->dma_addr + (u64)periods * period_bytes,
			 period_bytes * periods, &rt->dma_addr);
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
		for (k = 0; k < periods; k++)
			st->bdl[k].addr = cpu_to_le64(st->fault_dma + (u64)k * period_bytes);
		dev_warn(dev, "stream %u: fault wrong_dir: descriptors at %pad, mapped %s\n",
			 st->index, &st->fault_dma,
			 st->fault_dir == DMA_TO_DEVICE ? "DMA_TO_DEVICE" : "DMA_FROM_DEVICE");
		break;
	default:
		break;
	}

	if (use_posbuf) {
		memset(pea_posbuf_rec(st), 0, sizeof(struct pea_posbuf_rec));
		posbuf = (pea_posbuf_dma(st) & PEA_SD_POSBUF_ADDR) | PEA_SD_POSBUF_ENABLE;
	}
	bdl_addr = fault == PEA_FAULT_START_BEFORE_BDL ? 0 : st->bdl_dma;

	spin_lock_irqsave(&st->lock, flags);
	st->running = false;
	st->fault = fault;
	st->use_posbuf = use_posbuf;
	st->rate = rt->rate;
	st->ctl = PEA_SD_CTL_IOCE | PEA_SD_CTL_ERRE;

	/* RUN must be clear: the card ignores reprogramming while running (spec §9.3). */
	pea_sd_write(st, PEA_SD_CTL, 0);
	pea_sd_write(st, PEA_SD_STS, PEA_SD_STS_CAUSES);
	pea_sd_write(st, PEA_SD_FMT, fmt);
	writeq(bdl_addr, st->regs + PEA_SD_BDL);
	pea_sd_write(st, PEA_SD_BDLN, fault == PEA_FAULT_START_BEFORE_BDL ? 0 : st->bdln);
	pea_sd_write(st, PEA_SD_CBL, st->cbl);
	writeq(posbuf, st->regs + PEA_SD_POSBUF);
	pea_sd_write(st, PEA_SD_CTL, st->ctl);
	spin_unlock_irqrestore(&st->lock, flags);
	return 0;
}

/*
 * Spec §8 step 12, §9.3: set RUN. The card validates the format and the list
 * at RUN and, on a violation, clears RUN and sets SD_STS.ERR with the ERRCODE.
 * Validation is immediate unless it needs message DMA, so wait a little for
 * RUNNING or ERR; a refusal is reported to ALSA as -EIO.
 */
static int pea_stream_start(struct pea_stream *st)
{
	struct device *dev = &st->pea->pdev->dev;
	void __iomem *wallclk = st->pea->regs + PEA_REG_WALLCLK;
	unsigned long flags;
	unsigned int code;
	ktime_t deadline;
	u32 sts;

	spin_lock_irqsave(&st->lock, flags);
	pea_sd_write(st, PEA_SD_STS, PEA_SD_STS_CAUSES);
	pea_sd_write(st, PEA_SD_CTL, st->ctl | PEA_SD_CTL_RUN);
	if (st->fault == PEA_FAULT_START_BEFORE_BDL) {
		/* The deliberate bug: the list is programmed only after RUN. */
		writeq(st->bdl_dma, st->regs + PEA_SD_BDL);
		pea_sd_write(st, PEA_SD_BDLN, st->bdln);
	}

	deadline = ktime_add_us(ktime_get(), PEA_START_TIMEOUT_US);
	for (;;) {
		sts = pea_sd_read(st, PEA_SD_STS);
		if (sts == ~0U || (sts & (PEA_SD_STS_ERR | PEA_SD_STS_RUNNING)))
			break;
		if (ktime_after(ktime_get(), deadline))
			break;
		udelay(10);
	}

	if (sts == ~0U) {
		spin_unlock_irqrestore(&st->lock, flags);
		if (pea_check_gone(st->pea))
			return -ENODEV;
		dev_err(dev, "stream %u: card not answering at start\n", st->index);
		return -EIO;
	}
	if (sts & PEA_SD_STS_ERR) {
		/* Acknowledge here so the interrupt handler does not report it again. */
		pea_sd_write(st, PEA_SD_STS, sts & PEA_SD_STS_CAUSES);
		pea_sd_write(st, PEA_SD_CTL, st->ctl);
		st->running = false;
		spin_unlock_irqrestore(&st->lock, flags);
		atomic_inc(&st->err_count);
		code = FIELD_GET(PEA_SD_STS_ERRCODE, sts);
		dev_err(dev, "stream %u: the card refused to start: ERRCODE %u (%s)\n",
			st->index, code, pea_dma_err_name(code));
		return -EIO;
	}
	st->running = true;
	/* The card took T0 while handling RUN, before RUNNING read 1 (spec §11.1). */
	st->run_wallclk = pea_readq(wallclk);
	st->last_irq = jiffies;
	st->stall = max_t(unsigned long, msecs_to_jiffies(100),
			  2 * DIV_ROUND_UP(HZ * st->substream->runtime->period_size, max(st->rate, 1U)));
	spin_unlock_irqrestore(&st->lock, flags);
	pea_watch_stalls(st->pea);

	if (!(sts & PEA_SD_STS_RUNNING))
		dev_dbg(dev, "stream %u: still validating after %u us\n", st->index,
			PEA_START_TIMEOUT_US);
	return 0;
}

static int pea_pcm_trigger(struct snd_pcm_substream *substream, int cmd)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);

	switch (cmd) {
	case SNDRV_PCM_TRIGGER_START:
		if (READ_ONCE(st->pea->gone))
			return -ENODEV;
		return pea_stream_start(st);
	case SNDRV_PCM_TRIGGER_STOP:
		if (st->fault == PEA_FAULT_USE_AFTER_UNMAP) {
			pea_stream_forget(st);	/* the deliberate bug */
			return 0;
		}
		pea_stream_stop(st);
		return 0;
	case SNDRV_PCM_TRIGGER_SUSPEND:
		pea_stream_stop(st);
		return 0;
	default:
		return -EINVAL;
	}
}

/* No interrupt handler may still be working on this substream. */
static int pea_pcm_sync_stop(struct snd_pcm_substream *substream)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);

	pea_sync_irqs(st->pea);
	return 0;
}

/* Spec §11.1, §11.3: SD_LPIB, or the LPIB of the last position record. */
static snd_pcm_uframes_t pea_pcm_pointer(struct snd_pcm_substream *substream)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	u32 pos;

	if (st->use_posbuf)
		pos = le32_to_cpu(READ_ONCE(pea_posbuf_rec(st)->lpib));
	else
		pos = pea_sd_read(st, PEA_SD_LPIB);
	if (pos == ~0U && !st->use_posbuf && pea_check_gone(st->pea))
		return SNDRV_PCM_POS_XRUN;	/* the card is gone: stop the stream now */
	if (pos >= st->cbl)
		pos = 0;
	return bytes_to_frames(substream->runtime, pos);
}

/*
 * Device time (WALLCLK) of frame 0 of the current run (spec §11.2): from the
 * zero timestamp once the buffer has wrapped, else the WALLCLK read just
 * after RUNNING was seen (late by about one register read).
 */
static u64 pea_stream_t0(struct pea_stream *st)
{
	u64 zts_frames = 0, zts_time = 0, again;
	unsigned int tries;

	for (tries = 0; tries < 3; tries++) {
		zts_time = pea_readq(st->regs + PEA_SD_ZTS_TIME);
		zts_frames = pea_readq(st->regs + PEA_SD_ZTS_FRAMES);
		again = pea_readq(st->regs + PEA_SD_ZTS_TIME);
		if (again == zts_time)
			break;
	}
	if (zts_frames && zts_time >= st->run_wallclk && st->rate)
		return zts_time - mul_u64_u32_div(zts_frames, NSEC_PER_SEC, st->rate);
	return st->run_wallclk;
}

/*
 * Link audio timestamps: the time since frame 0 on the card's clock, paired
 * with the system time at which WALLCLK was read. Other types fall back to
 * the core's DMA-position timestamps.
 */
static int pea_pcm_get_time_info(struct snd_pcm_substream *substream,
				 struct timespec64 *system_ts, struct timespec64 *audio_ts,
				 struct snd_pcm_audio_tstamp_config *config,
				 struct snd_pcm_audio_tstamp_report *report)
{
	struct pea_stream *st = snd_pcm_substream_chip(substream);
	struct timespec64 before, after;
	s64 ns_before, ns_after;
	u64 t0, now;

	if (config->type_requested != SNDRV_PCM_AUDIO_TSTAMP_TYPE_LINK) {
		report->actual_type = SNDRV_PCM_AUDIO_TSTAMP_TYPE_DEFAULT;
		return 0;
	}

	t0 = pea_stream_t0(st);
	snd_pcm_gettime(substream->runtime, &before);
	now = pea_readq(st->pea->regs + PEA_REG_WALLCLK);
	snd_pcm_gettime(substream->runtime, &after);

	ns_before = timespec64_to_ns(&before);
	ns_after = timespec64_to_ns(&after);
	*system_ts = ns_to_timespec64(ns_before + (ns_after - ns_before) / 2);
	*audio_ts = ns_to_timespec64(now > t0 ? now - t0 : 0);

	report->actual_type = SNDRV_PCM_AUDIO_TSTAMP_TYPE_LINK;
	report->accuracy_report = 1;
	report->accuracy = (u32)clamp_t(s64, ns_after - ns_before, 0, U32_MAX);
	return 0;
}

static const struct snd_pcm_ops pea_pcm_ops = {
	.open = pea_pcm_open,
	.close = pea_pcm_close,
	.hw_params = pea_pcm_hw_params,
	.hw_free = pea_pcm_hw_free,
	.prepare = pea_pcm_prepare,
	.trigger = pea_pcm_trigger,
	.sync_stop = pea_pcm_sync_stop,
	.pointer = pea_pcm_pointer,
	.get_time_info = pea_pcm_get_time_info,
};

/* PCM device st->index, one substream in the stream's direction. */
int pea_pcm_new(struct pea_stream *st)
{
	struct pea_dev *pea = st->pea;
	struct device *dev = &pea->pdev->dev;
	unsigned long fmask = FIELD_GET(PEA_SD_CAPS_FORMATS, st->caps);
	unsigned long rmask = FIELD_GET(PEA_SD_CAPS_RATES, st->caps);
	size_t bufmax = pea_buffer_max(pea);
	struct snd_pcm *pcm;
	unsigned int i;
	int dir, ret;

	st->formats = 0;
	for_each_set_bit(i, &fmask, ARRAY_SIZE(pea_formats))
		st->formats |= pea_formats[i].bit;
	st->rates = 0;
	for_each_set_bit(i, &rmask, ARRAY_SIZE(pea_rates))
		st->rates |= pea_rates[i].bit;

	if (!st->formats || !st->rates || !st->maxch) {
		dev_warn(dev, "stream %u offers no format, rate or channel (SD_CAPS 0x%08x); no PCM device\n",
			 st->index, st->caps);
		return 0;
	}

	dir = st->capture ? SNDRV_PCM_STREAM_CAPTURE : SNDRV_PCM_STREAM_PLAYBACK;
	ret = snd_pcm_new(pea->card, "PcieEmu Audio", st->index,
			  dir == SNDRV_PCM_STREAM_PLAYBACK, dir == SNDRV_PCM_STREAM_CAPTURE, &pcm);
	if (ret < 0) {
		dev_err(dev, "stream %u: cannot create the PCM device: %d\n", st->index, ret);
		return ret;
	}
	pcm->private_data = st;
	snprintf(pcm->name, sizeof(pcm->name), "PcieEmu %s %u",
		 st->capture ? "Capture" : "Playback", st->index);
	snd_pcm_set_ops(pcm, dir, &pea_pcm_ops);
	st->pcm = pcm;	/* freed with the card */
	/*
	 * No preallocation: the ALSA core caps the buffer at a preallocated
	 * buffer's size, so preallocating 64 KiB would limit every stream to
	 * 64 KiB (2048 frames of 8 ch S32). hw_params allocates up to bufmax.
	 */
	ret = snd_pcm_set_managed_buffer_all(pcm, SNDRV_DMA_TYPE_DEV, dev, 0, bufmax);
	if (ret < 0)
		dev_err(dev, "stream %u: cannot set up the PCM buffer: %d\n", st->index, ret);
	return ret;
}
