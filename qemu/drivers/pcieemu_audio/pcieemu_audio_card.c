// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: the ALSA card. Stream discovery (SD_CAPS, spec §9.1), card
 * creation and teardown, power management of the streams and the mixer, the
 * deliberate-fault switch for the host tests (debugfs, where kernel test hooks
 * live) and the streams sysfs attribute on the PCI device.
 *
 * PCM device j holds the card's j-th playback stream (stream j) and its j-th
 * capture stream (stream NPLAY + j) as its two substreams, like any card whose
 * "default" device plays and records; streams without a partner of the other
 * direction are devices of their own, one direction only.
 */

#include <linux/bitfield.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <linux/uaccess.h>

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
	[PEA_FAULT_SEG_OVER_MAXSEG] = "seg_over_maxseg",
	[PEA_FAULT_DMA_MASK_IGNORED] = "dma_mask_ignored",
	[PEA_FAULT_BOUNDARY_CROSS] = "boundary_cross",
	[PEA_FAULT_PERIOD_NOT_FRAMES] = "period_not_frames",
	[PEA_FAULT_BDL_COUNT_WRONG] = "bdl_count_wrong",
	[PEA_FAULT_BDL_TOO_LONG] = "bdl_too_long",
	[PEA_FAULT_DESC_RESERVED] = "desc_reserved",
	[PEA_FAULT_BAD_FORMAT] = "bad_format",
	[PEA_FAULT_REPROGRAM_RUNNING] = "reprogram_running",
	[PEA_FAULT_NO_BUS_MASTER] = "no_bus_master",
	[PEA_FAULT_DMA_OWN_BAR] = "dma_own_bar",
	[PEA_FAULT_IRQ_NOT_ACKED] = "irq_not_acked",
	[PEA_FAULT_SUSPEND_RUNNING] = "suspend_running",
	[PEA_FAULT_HI_LO_WRITEQ] = "hi_lo_writeq",
};

static char *pea_fault_param = "none";
module_param_named(fault, pea_fault_param, charp, 0444);
MODULE_PARM_DESC(fault,
		 "Deliberate driver bug for card tests (none by default; names as in <debugfs>/pcieemu_audio/<device>/faults)");

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
		pr_err("%s: fault=%s is not a known fault (see <debugfs>/%s/<device>/faults)\n",
		       PEA_DRV_NAME, pea_fault_param, PEA_DRV_NAME);
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
	unsigned int i, n = pea->nplay + pea->ncap, nplay = 0, ncap = 0;
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
	for (i = 0; i < n; i++) {
		struct pea_stream *st = &pea->streams[i];

		pea_stream_init_one(pea, st, i);
		st->pcm_dev = st->capture ? ncap++ : nplay++;
	}

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
	unsigned int i, d;
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

	/* PCM device d: the d-th playback and the d-th capture stream (SD_CAPS.DIR). */
	for (d = 0; d < pea->nstreams; d++) {
		struct pea_stream *pair[2] = { NULL, NULL };

		for (i = 0; i < pea->nstreams; i++)
			if (pea->streams[i].pcm_dev == d)
				pair[pea->streams[i].capture] = &pea->streams[i];
		if (!pair[0] && !pair[1])
			break;
		ret = pea_pcm_new(pea, d, pair[0], pair[1]);
		if (ret)
			goto err_free;
	}
	for (i = 0; i < pea->nstreams; i++) {
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
	memset(pea->pcm_streams, 0, sizeof(pea->pcm_streams));
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
	memset(pea->pcm_streams, 0, sizeof(pea->pcm_streams));
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
	for (i = 0; i < pea->nstreams; i++)	/* a PCM device twice is harmless */
		if (pea->streams[i].pcm)
			snd_pcm_suspend_all(pea->streams[i].pcm);
	if (READ_ONCE(pea->fault) != PEA_FAULT_SUSPEND_RUNNING)	/* else: the deliberate bug */
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

/* One line per stream: "<index> <playback|capture> <maxch> <formats> <rates> <pcm device>". */
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
		len += sysfs_emit_at(buf, len, "%u %s %u %s %s %u\n", i,
				     st->capture ? "capture" : "playback",
				     (unsigned int)FIELD_GET(PEA_SD_CAPS_MAXCH, st->caps),
				     formats, rates, st->pcm_dev);
	}
	return len;
}
static DEVICE_ATTR_RO(streams);


static struct attribute *pea_card_attrs[] = {
	&dev_attr_streams.attr,
	NULL,
};

const struct attribute_group pea_card_group = {
	.attrs = pea_card_attrs,
};

/* --- debugfs: the fault switch ------------------------------------------------ */

static struct dentry *pea_debugfs_root;

static ssize_t pea_fault_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
	struct pea_dev *pea = file->private_data;
	char buf[32];
	int len;

	len = scnprintf(buf, sizeof(buf), "%s\n", pea_fault_names[READ_ONCE(pea->fault)]);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
}

/* Takes effect at the next prepare (start_before_bdl: the next start). */
static ssize_t pea_fault_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	struct pea_dev *pea = file->private_data;
	char buf[32];
	size_t n = min(count, sizeof(buf) - 1);
	int f;

	if (copy_from_user(buf, ubuf, n))
		return -EFAULT;
	buf[n] = '\0';
	f = pea_fault_parse(buf);
	if (f < 0)
		return f;
	WRITE_ONCE(pea->fault, f);
	if (f != PEA_FAULT_NONE)
		dev_info(&pea->pdev->dev, "fault injection: %s\n", pea_fault_names[f]);
	return count;
}

static const struct file_operations pea_fault_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = pea_fault_read,
	.write = pea_fault_write,
	.llseek = default_llseek,
};

/* The names the fault file takes, one per line. */
static int pea_faults_show(struct seq_file *m, void *unused)
{
	unsigned int i;

	for (i = 0; i < PEA_FAULT_COUNT; i++)
		seq_printf(m, "%s\n", pea_fault_names[i]);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pea_faults);

void pea_debugfs_init(void)
{
	pea_debugfs_root = debugfs_create_dir(PEA_DRV_NAME, NULL);
}

void pea_debugfs_exit(void)
{
	debugfs_remove_recursive(pea_debugfs_root);
	pea_debugfs_root = NULL;
}

/* Test hooks only: a failure here leaves the card working, so it is not checked. */
void pea_debugfs_add(struct pea_dev *pea)
{
	pea->debugfs = debugfs_create_dir(pci_name(pea->pdev), pea_debugfs_root);
	debugfs_create_file("fault", 0600, pea->debugfs, pea, &pea_fault_fops);
	debugfs_create_file("faults", 0400, pea->debugfs, NULL, &pea_faults_fops);
}

void pea_debugfs_remove(struct pea_dev *pea)
{
	debugfs_remove_recursive(pea->debugfs);
	pea->debugfs = NULL;
}
