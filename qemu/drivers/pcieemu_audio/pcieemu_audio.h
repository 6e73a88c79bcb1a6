/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PcieEmu Audio: private state shared by the driver's source files.
 *
 * The card is specified in firmware-models/pcieemu-audio/README.md (spec 1.1);
 * comments cite it as "spec §N".
 */
#ifndef PCIEEMU_AUDIO_H
#define PCIEEMU_AUDIO_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/dma-direction.h>
#include <linux/io.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/types.h>

#include <sound/core.h>
#include <sound/pcm.h>

#include "pcieemu_audio_regs.h"

#define PEA_DRV_NAME		"pcieemu_audio"
#define PEA_ID_MAGIC		0x50454155U	/* "PEAU", spec §4 */

/* Longest line the dma_test attribute reports, including the newline. */
#define PEA_DIAG_RESULT_LEN	96

/* INTSTS causes acknowledged by writing them back (W1C), spec §4. */
#define PEA_INTSTS_W1C		(PEA_INTSTS_DIAG | PEA_INTSTS_DMA_DONE | PEA_INTSTS_DMA_ERR)

/* SD_STS causes acknowledged by writing them back (W1C), spec §9.1. */
#define PEA_SD_STS_CAUSES	(PEA_SD_STS_IOC | PEA_SD_STS_XRUN | PEA_SD_STS_ERR)

/* Descriptor list, spec §10. */
#define PEA_BDL_MAX		256	/* SD_BDLN limit */
#define PEA_BDL_FLAG_IOC	BIT(0)

/* SD_CHVOL.LEVEL of 0 dB; playback streams accept 0..192, capture 0..255 (spec §12). */
#define PEA_CHVOL_UNITY		192
#define PEA_CHVOL_MAX_CAPTURE	255

enum pea_irq_mode {
	PEA_IRQ_MSIX,
	PEA_IRQ_MSI,
	PEA_IRQ_INTX,
};

struct pea_dev;

/* One descriptor, little-endian (spec §10). */
struct pea_bdl_entry {
	__le64 addr;
	__le32 len;
	__le32 flags;
};

/* The record the card writes to SD_POSBUF.ADDR (spec §11.3). */
struct pea_posbuf_rec {
	__le32 lpib;
	__le32 bcnt;
	__le64 frames;
};

/*
 * Deliberate driver bugs for the host tests (spec §9.3, §10); see the fault
 * attribute. The last three are caught only behind an IOMMU: without one,
 * all guest RAM is mapped and the card really touches the memory involved.
 */
enum pea_fault {
	PEA_FAULT_NONE,
	PEA_FAULT_BDL_OUTSIDE,		/* descriptor 0 points where nothing is mapped */
	PEA_FAULT_START_BEFORE_BDL,	/* RUN while SD_BDL/SD_BDLN are still 0 */
	PEA_FAULT_MISALIGN,		/* descriptor 0 not aligned to 2^ALIGN_LOG2 */
	PEA_FAULT_PAST_END,		/* one descriptor more: the period past the buffer */
	PEA_FAULT_USE_AFTER_UNMAP,	/* RUN kept at stop and close: DMA after the free */
	PEA_FAULT_WRONG_DIR,		/* the buffer mapped for the other direction */
	PEA_FAULT_COUNT,
};

/* One stream: register block PEA_SD(index), one ALSA PCM device numbered index. */
struct pea_stream {
	struct pea_dev *pea;
	unsigned int index;
	void __iomem *regs;		/* this stream's register block */

	/* From SD_CAPS at probe (spec §9.1). */
	u32 caps;
	bool capture;
	unsigned int maxch;
	u64 formats;			/* SNDRV_PCM_FMTBIT_* */
	unsigned int rates;		/* SNDRV_PCM_RATE_* */

	struct snd_pcm *pcm;		/* NULL if the stream offers nothing usable */

	/* Serializes open/close against the card-reset path (process context). */
	struct mutex open_lock;

	/* lock protects substream and running, the interrupt handler's view. */
	spinlock_t lock;
	struct snd_pcm_substream *substream;	/* set between open and close */
	bool running;				/* RUN set by trigger and not yet stopped */

	/* Programmed by hw_params/prepare, used by trigger and pointer. */
	struct pea_bdl_entry *bdl;	/* PEA_BDL_MAX entries, coherent */
	dma_addr_t bdl_dma;
	size_t bdl_alloc;
	unsigned int bdln;
	u32 cbl;			/* cyclic buffer bytes */
	u32 ctl;			/* SD_CTL enables (IOCE | ERRE) written with RUN */
	unsigned int rate;
	enum pea_fault fault;		/* the fault the last prepare applied */
	/* PEA_FAULT_WRONG_DIR: the buffer the descriptors point at instead. */
	void *fault_buf;
	dma_addr_t fault_dma;
	size_t fault_size;
	enum dma_data_direction fault_dir;
	bool use_posbuf;		/* pointer from the position buffer record */
	u64 run_wallclk;		/* WALLCLK just after the card accepted RUN */
	unsigned long last_irq;		/* jiffies of the last interrupt (or of RUN) */
	unsigned long stall;		/* jiffies without one after which the card is checked */

	/* SD_CHVOL shadow, under pea->mixer_lock (spec §12). */
	u32 chvol[PEA_SD_CHVOL_COUNT];

	/* Interrupt statistics. */
	atomic_t ioc_count;
	atomic_t xrun_count;
	atomic_t err_count;
};

/* One allocated interrupt vector. */
struct pea_vec {
	struct pea_dev *pea;
	unsigned int index;
	int irq;			/* Linux IRQ number, valid when requested */
	bool requested;
	atomic64_t count;		/* interrupts this vector handled */
	char name[24];			/* "pcieemu_audio-v<N>", shown in /proc/interrupts */
};

/* Diagnostic DMA engine state (spec §6.2), owned by pcieemu_audio_diag.c. */
struct pea_diag {
	void *buf;			/* coherent buffer of buf_size bytes */
	dma_addr_t buf_dma;
	u32 buf_size;
	struct mutex lock;		/* serializes dma_test runs */
	struct completion done;		/* DMA_DONE or DMA_ERR seen */
	spinlock_t result_lock;		/* protects result */
	char result[PEA_DIAG_RESULT_LEN];
};

struct pea_dev {
	struct pci_dev *pdev;
	void __iomem *regs;		/* BAR0, spec §4 */

	/* Read from the card after reset, spec §4 CAPS/DMACAPS/MAXSEG. */
	u32 version;
	unsigned int nplay;
	unsigned int ncap;
	unsigned int card_nvec;		/* CAPS.NVEC */
	unsigned int addr_bits;
	unsigned int align_log2;
	unsigned int boundary_bits;	/* 0: no boundary rule */
	u32 maxseg;

	/* Interrupts, spec §5. */
	enum pea_irq_mode irq_mode;
	unsigned int nvec;		/* vectors allocated */
	struct pea_vec *vecs;
	u32 inten;			/* causes the driver enabled */

	struct pea_diag diag;

	/* Streams, spec §9: nplay playback then ncap capture, at most PEA_SD_COUNT. */
	unsigned int nstreams;
	struct pea_stream streams[PEA_SD_COUNT];
	void *posbuf;			/* position records, posbuf_stride apart (spec §11.3) */
	dma_addr_t posbuf_dma;
	unsigned int posbuf_stride;
	enum pea_fault fault;		/* read with READ_ONCE at prepare/trigger */

	struct snd_card *card;
	struct mutex mixer_lock;	/* stream chvol shadows and hw_off */
	bool hw_off;			/* suspended: registers not reachable */

	/*
	 * Surprise removal (spec §7.1): the card vanished without a hot-plug event
	 * (a Thunderbolt cable pulled, its server killed). Reads return all-ones;
	 * once config space does too, gone is set, every stream is stopped and the
	 * ALSA card disconnected (process context, gone_work). stall_work looks at
	 * running streams whose interrupts stopped, so a reader blocked in ALSA
	 * learns of it too.
	 */
	bool gone;
	struct mutex card_lock;		/* card against gone_work */
	struct work_struct gone_work;
	struct delayed_work stall_work;
};

static inline u32 pea_read(struct pea_dev *pea, unsigned int reg)
{
	return readl(pea->regs + reg);
}

static inline void pea_write(struct pea_dev *pea, unsigned int reg, u32 val)
{
	writel(val, pea->regs + reg);
}

static inline u32 pea_sd_read(struct pea_stream *st, unsigned int reg)
{
	return readl(st->regs + reg);
}

static inline void pea_sd_write(struct pea_stream *st, unsigned int reg, u32 val)
{
	writel(val, st->regs + reg);
}

/* pcieemu_audio_main.c */
void pea_sync_irqs(struct pea_dev *pea);
bool pea_check_gone(struct pea_dev *pea);
void pea_watch_stalls(struct pea_dev *pea);
const char *pea_irq_mode_name(struct pea_dev *pea);

/* pcieemu_audio_diag.c */
int pea_diag_init(struct pea_dev *pea);
void pea_diag_fini(struct pea_dev *pea);
void pea_diag_irq(struct pea_dev *pea, u32 intsts);
const char *pea_dma_err_name(unsigned int code);
extern const struct attribute_group pea_diag_group;

/* pcieemu_audio_card.c */
int pea_fault_param_init(void);
int pea_streams_init(struct pea_dev *pea);
int pea_snd_create(struct pea_dev *pea);
void pea_snd_free(struct pea_dev *pea);
void pea_snd_suspend(struct pea_dev *pea);
void pea_snd_resume(struct pea_dev *pea);
void pea_snd_card_reset(struct pea_dev *pea);
extern const struct attribute_group pea_card_group;

/* pcieemu_audio_pcm.c */
int pea_pcm_new(struct pea_stream *st);
void pea_streams_irq(struct pea_dev *pea, unsigned long sis);
void pea_streams_stop_all(struct pea_dev *pea);
void pea_stream_format_names(u32 caps, char *buf, size_t size);
void pea_stream_rate_names(u32 caps, char *buf, size_t size);

/* pcieemu_audio_mixer.c */
int pea_mixer_new(struct pea_stream *st);
void pea_mixer_restore(struct pea_dev *pea);

#endif /* PCIEEMU_AUDIO_H */
