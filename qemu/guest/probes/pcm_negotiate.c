// SPDX-License-Identifier: GPL-2.0
/*
 * pcm_negotiate: does every configuration a PCM offers negotiate the way ALSA
 * applications ask for one?
 *
 *   pcm_negotiate [-D DEVICE] [-s playback|capture] [-n] [-v]
 *
 * For each sample format, standard rate and channel count the device's hw
 * params allow (RW interleaved access), it runs a list of "tries": sequences
 * of snd_pcm_hw_params_set_{buffer,period}_{time,size}_near() calls in both
 * orders (buffer first, period first), with the values applications use
 * (500 ms buffers, 22050 frames at 44.1 kHz, 100 ms and 21.3 ms periods,
 * 256-frame periods, a 22,500-frame period, 2 s buffers of 500 ms periods).
 * A try then installs the parameters (snd_pcm_hw_params), checks that the
 * buffer is a whole number of periods, prepares and (unless -n) starts and
 * drops the stream (playback after one period of silence), so the card
 * validates the descriptor list the driver built for it. Each failing step is one line:
 *
 *   FAIL <format> <rate> <channels> <try>: <step> -> <error>
 *
 * and the last line is the summary:
 *
 *   pcm_negotiate <device> <direction>: <n> configurations, <n> tries, <n> failures
 *
 * Exit status: 0 no failure, 1 failures, 2 the device could not be opened or
 * offers nothing.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <alsa/asoundlib.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum step_kind {
	STEP_END,
	BUFFER_TIME,		/* value in us */
	PERIOD_TIME,		/* value in us */
	BUFFER_SIZE_MS,		/* value in ms of frames at the rate */
	PERIOD_SIZE_MS,
	BUFFER_SIZE,		/* value in frames */
	PERIOD_SIZE,
};

struct step {
	enum step_kind kind;
	unsigned int value;
};

struct try {
	const char *name;
	struct step steps[3];
};

static const struct try tries[] = {
	{ "buffer_time 500ms, period_time 100ms",
	  { { BUFFER_TIME, 500000 }, { PERIOD_TIME, 100000 } } },
	{ "buffer_time 500ms, period_time 21.3ms",
	  { { BUFFER_TIME, 500000 }, { PERIOD_TIME, 21333 } } },
	{ "period_time 21.3ms, buffer_time 500ms",
	  { { PERIOD_TIME, 21333 }, { BUFFER_TIME, 500000 } } },
	{ "buffer_size 500ms (22050 at 44.1k)",
	  { { BUFFER_SIZE_MS, 500 } } },
	{ "buffer_size 500ms, period_size 100ms",
	  { { BUFFER_SIZE_MS, 500 }, { PERIOD_SIZE_MS, 100 } } },
	{ "period_size 100ms, buffer_size 500ms",
	  { { PERIOD_SIZE_MS, 100 }, { BUFFER_SIZE_MS, 500 } } },
	{ "period_size 22500, buffer_size 90000",
	  { { PERIOD_SIZE, 22500 }, { BUFFER_SIZE, 90000 } } },
	{ "period_size 256, buffer_size 4096",
	  { { PERIOD_SIZE, 256 }, { BUFFER_SIZE, 4096 } } },
	{ "buffer_time 2s, period_time 500ms",
	  { { BUFFER_TIME, 2000000 }, { PERIOD_TIME, 500000 } } },
};

static const unsigned int std_rates[] = {
	8000, 11025, 16000, 22050, 32000, 44100, 48000, 64000,
	88200, 96000, 176400, 192000, 352800, 384000,
};

static bool verbose;
static bool start_streams = true;
static unsigned long n_configs, n_tries, n_failures;

static void fail(snd_pcm_format_t fmt, unsigned int rate, unsigned int ch, const char *try_name,
		 const char *what, ...)
{
	va_list ap;

	printf("FAIL %s %u %u %s: ", snd_pcm_format_name(fmt), rate, ch, try_name);
	va_start(ap, what);
	vprintf(what, ap);
	va_end(ap);
	putchar('\n');
	n_failures++;
}

static const char *step_name(enum step_kind kind)
{
	switch (kind) {
	case BUFFER_TIME:
		return "set_buffer_time_near";
	case PERIOD_TIME:
		return "set_period_time_near";
	case BUFFER_SIZE_MS:
	case BUFFER_SIZE:
		return "set_buffer_size_near";
	case PERIOD_SIZE_MS:
	case PERIOD_SIZE:
		return "set_period_size_near";
	default:
		return "?";
	}
}

/* Applies one step; returns the ALSA error (0 on success) and the value asked for. */
static int apply_step(snd_pcm_t *pcm, snd_pcm_hw_params_t *hw, const struct step *s,
		      unsigned int rate, unsigned long *asked)
{
	unsigned int t = s->value;
	snd_pcm_uframes_t f;
	int dir = 0;

	switch (s->kind) {
	case BUFFER_TIME:
		*asked = t;
		return snd_pcm_hw_params_set_buffer_time_near(pcm, hw, &t, &dir);
	case PERIOD_TIME:
		*asked = t;
		return snd_pcm_hw_params_set_period_time_near(pcm, hw, &t, &dir);
	case BUFFER_SIZE_MS:
	case BUFFER_SIZE:
		f = s->kind == BUFFER_SIZE ? s->value : (snd_pcm_uframes_t)rate * s->value / 1000;
		*asked = f;
		return snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &f);
	case PERIOD_SIZE_MS:
	case PERIOD_SIZE:
		f = s->kind == PERIOD_SIZE ? s->value : (snd_pcm_uframes_t)rate * s->value / 1000;
		*asked = f;
		return snd_pcm_hw_params_set_period_size_near(pcm, hw, &f, &dir);
	default:
		return -EINVAL;
	}
}

static void run_try(snd_pcm_t *pcm, snd_pcm_format_t fmt, unsigned int rate, unsigned int ch,
		    const struct try *t)
{
	snd_pcm_hw_params_t *hw;
	snd_pcm_uframes_t period, buffer;
	unsigned int periods;
	unsigned long asked = 0;
	int err, dir;
	size_t i;

	snd_pcm_hw_params_alloca(&hw);
	n_tries++;

	err = snd_pcm_hw_params_any(pcm, hw);
	if (!err)
		err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (!err)
		err = snd_pcm_hw_params_set_format(pcm, hw, fmt);
	if (!err)
		err = snd_pcm_hw_params_set_channels(pcm, hw, ch);
	if (!err)
		err = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0);
	if (err < 0) {
		fail(fmt, rate, ch, t->name, "setting access/format/channels/rate -> %s",
		     snd_strerror(err));
		return;
	}

	for (i = 0; i < ARRAY_LEN(t->steps) && t->steps[i].kind != STEP_END; i++) {
		err = apply_step(pcm, hw, &t->steps[i], rate, &asked);
		if (err < 0) {
			fail(fmt, rate, ch, t->name, "%s(%lu) -> %s", step_name(t->steps[i].kind),
			     asked, snd_strerror(err));
			return;
		}
	}

	err = snd_pcm_hw_params(pcm, hw);
	if (err < 0) {
		fail(fmt, rate, ch, t->name, "snd_pcm_hw_params -> %s", snd_strerror(err));
		return;
	}

	dir = 0;
	snd_pcm_hw_params_get_period_size(hw, &period, &dir);
	snd_pcm_hw_params_get_buffer_size(hw, &buffer);
	dir = 0;
	snd_pcm_hw_params_get_periods(hw, &periods, &dir);
	if (!period || buffer != period * periods || dir != 0)
		fail(fmt, rate, ch, t->name, "installed buffer %lu is not %u periods of %lu",
		     buffer, periods, period);
	else if (verbose)
		printf("ok %s %u %u %s: period %lu, buffer %lu (%u periods)\n",
		       snd_pcm_format_name(fmt), rate, ch, t->name, period, buffer, periods);

	err = snd_pcm_prepare(pcm);
	if (err < 0) {
		fail(fmt, rate, ch, t->name, "snd_pcm_prepare -> %s", snd_strerror(err));
	} else if (start_streams) {
		/* Playback starts only with data: one period of silence (zeros in every format). */
		if (snd_pcm_stream(pcm) == SND_PCM_STREAM_PLAYBACK) {
			void *silence = calloc(period, snd_pcm_frames_to_bytes(pcm, 1));
			snd_pcm_sframes_t n = -ENOMEM;

			if (silence)
				n = snd_pcm_writei(pcm, silence, period);

			free(silence);
			if (n < 0)
				fail(fmt, rate, ch, t->name, "snd_pcm_writei(%lu) -> %s", period,
				     snd_strerror((int)n));
		}
		/*
		 * The card validates the descriptor list at RUN (spec §9.3). The write
		 * may have started the stream already (start threshold 1).
		 */
		err = 0;
		if (snd_pcm_state(pcm) == SND_PCM_STATE_PREPARED)
			err = snd_pcm_start(pcm);
		if (err < 0)
			fail(fmt, rate, ch, t->name, "snd_pcm_start -> %s", snd_strerror(err));
		snd_pcm_drop(pcm);
	}
	snd_pcm_hw_free(pcm);
}

static void probe_config(snd_pcm_t *pcm, snd_pcm_format_t fmt, unsigned int rate, unsigned int ch)
{
	size_t i;

	n_configs++;
	for (i = 0; i < ARRAY_LEN(tries); i++)
		run_try(pcm, fmt, rate, ch, &tries[i]);
}

static void usage(FILE *to)
{
	fprintf(to, "usage: pcm_negotiate [-D DEVICE] [-s playback|capture] [-n] [-v]\n"
		"  -D DEVICE  PCM to probe (default hw:0,0)\n"
		"  -s DIR     playback (default) or capture\n"
		"  -n         do not start and drop each configuration\n"
		"  -v         print every configuration that negotiated\n");
}

int main(int argc, char **argv)
{
	const char *device = "hw:0,0";
	snd_pcm_stream_t stream = SND_PCM_STREAM_PLAYBACK;
	snd_pcm_hw_params_t *any;
	unsigned int ch, chmin, chmax, rmin, rmax;
	snd_pcm_t *pcm;
	int opt, err, f, dir;
	size_t r;

	while ((opt = getopt(argc, argv, "D:s:nvh")) != -1) {
		switch (opt) {
		case 'D':
			device = optarg;
			break;
		case 's':
			if (!strcmp(optarg, "playback")) {
				stream = SND_PCM_STREAM_PLAYBACK;
			} else if (!strcmp(optarg, "capture")) {
				stream = SND_PCM_STREAM_CAPTURE;
			} else {
				usage(stderr);
				return 2;
			}
			break;
		case 'n':
			start_streams = false;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	err = snd_pcm_open(&pcm, device, stream, 0);
	if (err < 0) {
		fprintf(stderr, "pcm_negotiate: cannot open %s for %s: %s\n", device,
			snd_pcm_stream_name(stream), snd_strerror(err));
		return 2;
	}

	snd_pcm_hw_params_alloca(&any);
	err = snd_pcm_hw_params_any(pcm, any);
	if (!err)
		err = snd_pcm_hw_params_set_access(pcm, any, SND_PCM_ACCESS_RW_INTERLEAVED);
	if (err < 0) {
		fprintf(stderr, "pcm_negotiate: %s offers no interleaved access: %s\n", device,
			snd_strerror(err));
		snd_pcm_close(pcm);
		return 2;
	}
	snd_pcm_hw_params_get_channels_min(any, &chmin);
	snd_pcm_hw_params_get_channels_max(any, &chmax);
	dir = 0;
	snd_pcm_hw_params_get_rate_min(any, &rmin, &dir);
	dir = 0;
	snd_pcm_hw_params_get_rate_max(any, &rmax, &dir);

	for (f = 0; f <= SND_PCM_FORMAT_LAST; f++) {
		if (snd_pcm_hw_params_test_format(pcm, any, (snd_pcm_format_t)f) < 0)
			continue;
		for (r = 0; r < ARRAY_LEN(std_rates); r++) {
			if (std_rates[r] < rmin || std_rates[r] > rmax ||
			    snd_pcm_hw_params_test_rate(pcm, any, std_rates[r], 0) < 0)
				continue;
			for (ch = chmin; ch <= chmax; ch++)
				if (!snd_pcm_hw_params_test_channels(pcm, any, ch))
					probe_config(pcm, (snd_pcm_format_t)f, std_rates[r], ch);
		}
	}
	snd_pcm_close(pcm);

	printf("pcm_negotiate %s %s: %lu configurations, %lu tries, %lu failures\n", device,
	       snd_pcm_stream_name(stream), n_configs, n_tries, n_failures);
	if (!n_configs)
		return 2;
	return n_failures ? 1 : 0;
}
