/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PcieEmu Audio: private state shared by the driver's source files.
 *
 * The card is specified in firmware-models/pcieemu-audio/README.md (spec 1.0);
 * comments cite it as "spec §N".
 */
#ifndef PCIEEMU_AUDIO_H
#define PCIEEMU_AUDIO_H

#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/io.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/types.h>

#include "pcieemu_audio_regs.h"

#define PEA_DRV_NAME		"pcieemu_audio"
#define PEA_ID_MAGIC		0x50454155U	/* "PEAU", spec §4 */

/* Longest line the dma_test attribute reports, including the newline. */
#define PEA_DIAG_RESULT_LEN	96

enum pea_irq_mode {
	PEA_IRQ_MSIX,
	PEA_IRQ_MSI,
	PEA_IRQ_INTX,
};

struct pea_dev;

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
	u32 maxseg;

	/* Interrupts, spec §5. */
	enum pea_irq_mode irq_mode;
	unsigned int nvec;		/* vectors allocated */
	struct pea_vec *vecs;
	u32 inten;			/* causes the driver enabled */

	struct pea_diag diag;
};

static inline u32 pea_read(struct pea_dev *pea, unsigned int reg)
{
	return readl(pea->regs + reg);
}

static inline void pea_write(struct pea_dev *pea, unsigned int reg, u32 val)
{
	writel(val, pea->regs + reg);
}

/* pcieemu_audio_diag.c */
int pea_diag_init(struct pea_dev *pea);
void pea_diag_fini(struct pea_dev *pea);
void pea_diag_irq(struct pea_dev *pea, u32 intsts);
extern const struct attribute_group pea_diag_group;

#endif /* PCIEEMU_AUDIO_H */
