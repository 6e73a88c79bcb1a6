// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: the ALSA card. Stream discovery (SD_CAPS, spec §9.1), card
 * creation and teardown, power management of the streams and the mixer, the
 * deliberate-fault switch for the host tests and the streams/fault sysfs
 * attributes on the PCI device.
 *
 * One PCM device per stream, numbered like the stream: playback streams are
 * devices 0..NPLAY-1, capture streams NPLAY..NPLAY+NCAP-1.
 */

#include <linux/bitfield.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/string.h>

#include <sound/core.h>
#include <sound/pcm.h>

#include "pcieemu_audio.h"

#define PEA_CARD_DRIVER		"PcieEmuAudio"
#define PEA_CARD_SHORTNAME	"PcieEmu Audio"

/* The position record stride: 64-byte aligned (spec §11.3) and DMA-aligned. */
#define PEA_POSBUF_ALIGN	64

static const char * const pea_fault_names[PEA_FAULT_COUNT] = {
	[PEA_FAULT_NONE] = "none",
	[PEA_FAULT_BDL_OUTSIDE] = "bdl_outside",
	[PEA_FAULT_START_BEFORE_BDL] = "start_before_bdl",
	[PEA_FAULT_MISALIGN] = "misalign",
	[PEA_FAULT_PAST_END] = "past_end",
	[PEA_FAULT_USE_AFTER_UNMAP] = "use_after_unmap",
	[PEA_FAULT_WRONG_DIR] = "wrong_dir",
};

static char *pea_fault_param = "none";
module_param_named(fault, pea_fault_param, charp, 0444);
MODULE_PARM_DESC(fault,
		 "Deliberate driver bug for card tests: none (default), bdl_outside, start_before_bdl, misalign, past_end, use_after_unmap or wrong_dir");

static enum pea_fault pea_fault_default;

static int pea_fault_parse(const char *s)
{
	unsigned int i;

	for (i = 0; i < PEA_FAULT_COUNT; i++)
		if (sysfs_streq(s, pea_fault_names[i]))
			return i;
	return -EINVAL;
}

/* Module load: check the fault parameter. */
int pea_fault_param_init(void)
{
	int f = pea_fault_parse(pea_fault_param);

	if (f < 0) {
		pr_err("%s: fault=%s is not one of none, bdl_outside, start_before_bdl, misalign, past_end, use_after_unmap, wrong_dir\n",
		       PEA_DRV_NAME, pea_fault_param);
		return f;
	}
	pea_fault_default = f;
	return 0;
}

/* --- stream discovery ---------------------------------------------------- */

static void pea_stream_init_one(struct pea_dev *pea, struct pea_stream *st, unsigned int i)
{
	struct device *dev = &pea->pdev->dev;
	unsigned int maxch, c;
	u32 caps;

	st->pea = pea;
	st->index = i;
	st->regs = pea->regs + PEA_SD(i);
	mutex_init(&st->open_lock);
	spin_lock_init(&st->lock);
	atomic_set(&st->ioc_count, 0);
	atomic_set(&st->xrun_count, 0);
	atomic_set(&st->err_count, 0);

	caps = pea_sd_read(st, PEA_SD_CAPS);
	st->caps = caps;
	st->capture = caps & PEA_SD_CAPS_DIR;
	if (st->capture != (i >= pea->nplay))
		dev_warn(dev, "stream %u: SD_CAPS.DIR says %s, CAPS says %s; using SD_CAPS\n", i,
			 st->capture ? "capture" : "playback",
			 i >= pea->nplay ? "capture" : "playback");

	maxch = FIELD_GET(PEA_SD_CAPS_MAXCH, caps);
	if (maxch > PEA_SD_CHVOL_COUNT) {
		dev_warn(dev, "stream %u: MAXCH %u, SD_FMT and SD_CHVOL address %u channels\n",
			 i, maxch, PEA_SD_CHVOL_COUNT);
		maxch = PEA_SD_CHVOL_COUNT;
	}
	st->maxch = maxch;

	/* The mixer starts from what the card holds (reset: 0 dB, unmuted). */
	for (c = 0; c < maxch; c++)
		st->chvol[c] = pea_sd_read(st, PEA_SD_CHVOL(c)) &
			       (PEA_SD_CHVOL_LEVEL | PEA_SD_CHVOL_MUTE);
}

/* Spec §8 step 9: after GCTL.RESET, before interrupts are enabled. */
int pea_streams_init(struct pea_dev *pea)
{
	struct device *dev = &pea->pdev->dev;
	unsigned int i, n = pea->nplay + pea->ncap;
	size_t size;

	pea->fault = pea_fault_default;

	/* Streams are spec 1.1; a 1.0 card has none and its stream blocks read all-ones. */
	if (FIELD_GET(PEA_VERSION_MINOR, pea->version) < 1) {
		dev_info(dev, "spec 1.0 card: no streams\n");
		n = 0;
	}
	if (n > PEA_SD_COUNT) {
		dev_warn(dev, "card reports %u streams; only %u register blocks exist\n",
			 n, PEA_SD_COUNT);
		n = PEA_SD_COUNT;
	}
	pea->nstreams = n;
	for (i = 0; i < n; i++)
		pea_stream_init_one(pea, &pea->streams[i], i);

	/* One position record per stream (spec §11.3), used when posbuf=1. */
	pea->posbuf_stride = max_t(unsigned int, PEA_POSBUF_ALIGN, 1U << pea->align_log2);
	size = max_t(size_t, PAGE_SIZE, (size_t)pea->posbuf_stride * PEA_SD_COUNT);
	pea->posbuf = dmam_alloc_coherent(dev, size, &pea->posbuf_dma, GFP_KERNEL);
	if (!pea->posbuf) {
		dev_err(dev, "cannot allocate the %zu-byte position buffer\n", size);
		return -ENOMEM;
	}
	return 0;
}

/* --- card ------------------------------------------------------------------ */

/*
 * An open ALSA file pins the module (card->module), so rmmod is refused while
 * a stream is open. Unbinding the device (sysfs unbind, PCI remove) during
 * playback calls remove(): snd_card_free() disconnects the card (running
 * streams stop, their users get -ENODEV) and waits until every file is closed.
 */
int pea_snd_create(struct pea_dev *pea)
{
	struct pci_dev *pdev = pea->pdev;
	struct snd_card *card;
	unsigned int i;
	int ret;

	ret = snd_card_new(&pdev->dev, -1 /* first free */, PEA_CARD_DRIVER, THIS_MODULE, 0,
			   &card);
	if (ret < 0) {
		dev_err(&pdev->dev, "cannot create the ALSA card: %d\n", ret);
		return ret;
	}

	strscpy(card->driver, PEA_CARD_DRIVER, sizeof(card->driver));
	strscpy(card->shortname, PEA_CARD_SHORTNAME, sizeof(card->shortname));
	snprintf(card->longname, sizeof(card->longname),
		 "%s at 0x%llx, irq %s (%u vector%s)", PEA_CARD_SHORTNAME,
		 (unsigned long long)pci_resource_start(pdev, PEA_REGS_BAR),
		 pea_irq_mode_name(pea), pea->nvec, pea->nvec == 1 ? "" : "s");
	strscpy(card->mixername, PEA_CARD_SHORTNAME, sizeof(card->mixername));
	pea->card = card;

	for (i = 0; i < pea->nstreams; i++) {
		ret = pea_pcm_new(&pea->streams[i]);
		if (ret)
			goto err_free;
		if (!pea->streams[i].pcm)
			continue;
		ret = pea_mixer_new(&pea->streams[i]);
		if (ret)
			goto err_free;
	}

	ret = snd_card_register(card);
	if (ret < 0) {
		dev_err(&pdev->dev, "cannot register the ALSA card: %d\n", ret);
		goto err_free;
	}
	return 0;

err_free:
	pea->card = NULL;
	snd_card_free(card);
	for (i = 0; i < pea->nstreams; i++)
		pea->streams[i].pcm = NULL;
	return ret;
}

/* Disconnects the card, stops its streams and waits for all users to close. */
void pea_snd_free(struct pea_dev *pea)
{
	unsigned int i;

	mutex_lock(&pea->card_lock);
	if (!pea->card) {
		mutex_unlock(&pea->card_lock);
		return;
	}
	snd_card_free(pea->card);
	pea->card = NULL;
	mutex_unlock(&pea->card_lock);
	for (i = 0; i < pea->nstreams; i++)
		pea->streams[i].pcm = NULL;
}

/*
 * System suspend, before the card goes to D3hot. The PCM core suspends the
 * streams of a card's PCM devices itself; doing it here too is harmless and
 * makes sure RUN is clear before interrupts are disabled.
 */
void pea_snd_suspend(struct pea_dev *pea)
{
	unsigned int i;

	if (pea->card)
		snd_power_change_state(pea->card, SNDRV_CTL_POWER_D3hot);
	for (i = 0; i < pea->nstreams; i++)
		if (pea->streams[i].pcm)
			snd_pcm_suspend_all(pea->streams[i].pcm);
	pea_streams_stop_all(pea);

	mutex_lock(&pea->mixer_lock);
	pea->hw_off = true;
	mutex_unlock(&pea->mixer_lock);
}

/*
 * Resume, back in D0 with INTEN restored. No SNDRV_PCM_INFO_RESUME: the ALSA
 * core has applications prepare again, which reprograms every stream.
 */
void pea_snd_resume(struct pea_dev *pea)
{
	mutex_lock(&pea->mixer_lock);
	pea->hw_off = false;
	mutex_unlock(&pea->mixer_lock);
	pea_mixer_restore(pea);

	if (pea->card)
		snd_power_change_state(pea->card, SNDRV_CTL_POWER_D0);
}

/*
 * After a GCTL.RESET while the driver runs (spec §7): every stream stopped
 * and SD_CHVOL went back to reset values. Restore the mixer and report the
 * stopped streams to ALSA as an xrun, so applications prepare again.
 */
void pea_snd_card_reset(struct pea_dev *pea)
{
	struct device *dev = &pea->pdev->dev;
	unsigned int i;

	pea_mixer_restore(pea);

	for (i = 0; i < pea->nstreams; i++) {
		struct pea_stream *st = &pea->streams[i];
		struct snd_pcm_substream *substream;
		unsigned long flags;

		mutex_lock(&st->open_lock);
		spin_lock_irqsave(&st->lock, flags);
		substream = st->running ? st->substream : NULL;
		spin_unlock_irqrestore(&st->lock, flags);
		if (substream) {
			dev_warn(dev, "stream %u: stopped by a card reset\n", st->index);
			snd_pcm_stop_xrun(substream);
		}
		mutex_unlock(&st->open_lock);
	}
}

/* --- sysfs ------------------------------------------------------------------ */

/* One line per stream: "<index> <playback|capture> <maxch> <formats> <rates>". */
static ssize_t streams_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	char formats[64], rates[64];
	unsigned int i;
	int len = 0;

	for (i = 0; i < pea->nstreams; i++) {
		struct pea_stream *st = &pea->streams[i];

		pea_stream_format_names(st->caps, formats, sizeof(formats));
		pea_stream_rate_names(st->caps, rates, sizeof(rates));
		len += sysfs_emit_at(buf, len, "%u %s %u %s %s\n", i,
				     st->capture ? "capture" : "playback",
				     (unsigned int)FIELD_GET(PEA_SD_CAPS_MAXCH, st->caps),
				     formats, rates);
	}
	return len;
}
static DEVICE_ATTR_RO(streams);

static ssize_t fault_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct pea_dev *pea = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", pea_fault_names[READ_ONCE(pea->fault)]);
}

/* Takes effect at the next prepare (and, for start_before_bdl, the next start). */
static ssize_t fault_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct pea_dev *pea = dev_get_drvdata(dev);
	int f = pea_fault_parse(buf);

	if (f < 0)
		return f;
	WRITE_ONCE(pea->fault, f);
	if (f != PEA_FAULT_NONE)
		dev_info(dev, "fault injection: %s\n", pea_fault_names[f]);
	return count;
}
static DEVICE_ATTR_RW(fault);

static struct attribute *pea_card_attrs[] = {
	&dev_attr_streams.attr,
	&dev_attr_fault.attr,
	NULL,
};

const struct attribute_group pea_card_group = {
	.attrs = pea_card_attrs,
};
