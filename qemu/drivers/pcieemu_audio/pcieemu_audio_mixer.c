// SPDX-License-Identifier: GPL-2.0
/*
 * PcieEmu Audio: per-stream volume/gain and mute controls (spec §12).
 *
 * Each stream with a PCM substream has two mixer controls, index = its PCM
 * device number (playback and capture of device d are index d), one value
 * per channel (MAXCH values):
 *
 *   playback: "PCM Playback Volume" (0..192), "PCM Playback Switch"
 *   capture:  "PCM Capture Volume"  (0..255), "PCM Capture Switch"
 *
 * A volume value is SD_CHVOL.LEVEL: 0.5 dB steps, 192 = 0 dB, 0 = -96 dB
 * (TLV dB scale -96 dB, step 0.5 dB). A switch is on when the channel is not
 * muted (SD_CHVOL.MUTE clear). The driver keeps a shadow of every SD_CHVOL and
 * writes it back after resume and after a card reset.
 */

#include <linux/bitfield.h>
#include <linux/kernel.h>
#include <linux/mutex.h>
#include <linux/string.h>

#include <sound/control.h>
#include <sound/core.h>
#include <sound/tlv.h>

#include "pcieemu_audio.h"

static const DECLARE_TLV_DB_SCALE(pea_level_tlv, -9600, 50, 0);

static unsigned int pea_level_max(struct pea_stream *st)
{
	return st->capture ? PEA_CHVOL_MAX_CAPTURE : PEA_CHVOL_UNITY;
}

/* Caller holds mixer_lock. */
static void pea_chvol_set(struct pea_stream *st, unsigned int c, u32 val)
{
	st->chvol[c] = val;
	if (!st->pea->hw_off)
		pea_sd_write(st, PEA_SD_CHVOL(c), val);
}

static int pea_volume_info(struct snd_kcontrol *kctl, struct snd_ctl_elem_info *uinfo)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);

	uinfo->type = SNDRV_CTL_ELEM_TYPE_INTEGER;
	uinfo->count = st->maxch;
	uinfo->value.integer.min = 0;
	uinfo->value.integer.max = pea_level_max(st);
	return 0;
}

static int pea_volume_get(struct snd_kcontrol *kctl, struct snd_ctl_elem_value *uval)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);
	unsigned int c;

	mutex_lock(&st->pea->mixer_lock);
	for (c = 0; c < st->maxch; c++)
		uval->value.integer.value[c] = FIELD_GET(PEA_SD_CHVOL_LEVEL, st->chvol[c]);
	mutex_unlock(&st->pea->mixer_lock);
	return 0;
}

static int pea_volume_put(struct snd_kcontrol *kctl, struct snd_ctl_elem_value *uval)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);
	unsigned int c, max = pea_level_max(st);
	int changed = 0;

	for (c = 0; c < st->maxch; c++)
		if (uval->value.integer.value[c] < 0 || uval->value.integer.value[c] > max)
			return -EINVAL;

	mutex_lock(&st->pea->mixer_lock);
	for (c = 0; c < st->maxch; c++) {
		u32 val = (st->chvol[c] & ~PEA_SD_CHVOL_LEVEL) |
			  FIELD_PREP(PEA_SD_CHVOL_LEVEL, uval->value.integer.value[c]);

		if (val != st->chvol[c]) {
			pea_chvol_set(st, c, val);
			changed = 1;
		}
	}
	mutex_unlock(&st->pea->mixer_lock);
	return changed;
}

static int pea_switch_info(struct snd_kcontrol *kctl, struct snd_ctl_elem_info *uinfo)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);

	uinfo->type = SNDRV_CTL_ELEM_TYPE_BOOLEAN;
	uinfo->count = st->maxch;
	uinfo->value.integer.min = 0;
	uinfo->value.integer.max = 1;
	return 0;
}

static int pea_switch_get(struct snd_kcontrol *kctl, struct snd_ctl_elem_value *uval)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);
	unsigned int c;

	mutex_lock(&st->pea->mixer_lock);
	for (c = 0; c < st->maxch; c++)
		uval->value.integer.value[c] = !(st->chvol[c] & PEA_SD_CHVOL_MUTE);
	mutex_unlock(&st->pea->mixer_lock);
	return 0;
}

static int pea_switch_put(struct snd_kcontrol *kctl, struct snd_ctl_elem_value *uval)
{
	struct pea_stream *st = snd_kcontrol_chip(kctl);
	unsigned int c;
	int changed = 0;

	for (c = 0; c < st->maxch; c++)
		if (uval->value.integer.value[c] < 0 || uval->value.integer.value[c] > 1)
			return -EINVAL;

	mutex_lock(&st->pea->mixer_lock);
	for (c = 0; c < st->maxch; c++) {
		u32 val = st->chvol[c] & ~PEA_SD_CHVOL_MUTE;

		if (!uval->value.integer.value[c])
			val |= PEA_SD_CHVOL_MUTE;
		if (val != st->chvol[c]) {
			pea_chvol_set(st, c, val);
			changed = 1;
		}
	}
	mutex_unlock(&st->pea->mixer_lock);
	return changed;
}

int pea_mixer_new(struct pea_stream *st)
{
	struct snd_card *card = st->pea->card;
	const char *dir = st->capture ? "Capture" : "Playback";
	char vol_name[SNDRV_CTL_ELEM_ID_NAME_MAXLEN];
	char sw_name[SNDRV_CTL_ELEM_ID_NAME_MAXLEN];
	struct snd_kcontrol_new vol = {
		.iface = SNDRV_CTL_ELEM_IFACE_MIXER,
		.name = vol_name,
		.index = st->pcm_dev,
		.access = SNDRV_CTL_ELEM_ACCESS_READWRITE | SNDRV_CTL_ELEM_ACCESS_TLV_READ,
		.info = pea_volume_info,
		.get = pea_volume_get,
		.put = pea_volume_put,
		.tlv.p = pea_level_tlv,
	};
	struct snd_kcontrol_new sw = {
		.iface = SNDRV_CTL_ELEM_IFACE_MIXER,
		.name = sw_name,
		.index = st->pcm_dev,
		.access = SNDRV_CTL_ELEM_ACCESS_READWRITE,
		.info = pea_switch_info,
		.get = pea_switch_get,
		.put = pea_switch_put,
	};
	int ret;

	snprintf(vol_name, sizeof(vol_name), "PCM %s Volume", dir);
	snprintf(sw_name, sizeof(sw_name), "PCM %s Switch", dir);

	ret = snd_ctl_add(card, snd_ctl_new1(&vol, st));
	if (ret < 0)
		return ret;
	return snd_ctl_add(card, snd_ctl_new1(&sw, st));
}

/* After resume or a card reset: write every shadowed SD_CHVOL back. */
void pea_mixer_restore(struct pea_dev *pea)
{
	unsigned int i, c;

	mutex_lock(&pea->mixer_lock);
	for (i = 0; i < pea->nstreams; i++) {
		struct pea_stream *st = &pea->streams[i];

		for (c = 0; c < st->maxch; c++)
			pea_chvol_set(st, c, st->chvol[c]);
	}
	mutex_unlock(&pea->mixer_lock);
}
